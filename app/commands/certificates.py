"""`flask certificates list` and `flask certificates upload`: the certificates page for operators and scripts."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from app.clients import NotConfigured, for_config
from app.extensions import db
from app.models import utcnow
from app.operations.certificates import CertificateRefused, CertificateUploadFailed, upload_certificate
from app.queries import certificates
from app.queries.sync_status import SYNC_QUEUE
from app.queues import queue

certificates_cli = AppGroup("certificates", help="Certificates on the Deis clusters (synced from Deis).")
CLI_ACTOR = "cli"


@certificates_cli.command("list")
@click.option("--cluster", default=None, help="Only this cluster.")
@click.option("--urgency", type=click.Choice(certificates.URGENCIES), default=None, help="Only this urgency.")
def list_certificates(cluster: str | None, urgency: str | None) -> None:
    """Every certificate, soonest expiry first: days left, urgency, cluster, name, common name, domains."""
    filters = certificates.CertificateFilters(cluster=cluster, urgency=urgency)
    now, cursor, shown = utcnow(), None, 0
    while True:  # by Next cursors: each page is sought after the last row shown, whatever the depth
        page = certificates.list_certificates(db.session, filters, now, per_page=500, after=cursor)
        for row in page.items:
            days = "?" if row.days_left is None else str(row.days_left)
            domains = ",".join(domain.name for domain in row.domains) or "-"
            click.echo(f"{days:>6}  {row.urgency:<8}  {row.certificate.cluster.name:<16}  {row.certificate.name:<40}  "
                       f"{row.certificate.common_name or '-':<32}  {domains}")
        shown += len(page.items)
        if not page.has_next:
            break
        cursor = page.next_cursor
    click.echo(f"{shown} certificate{'s' if shown != 1 else ''}", err=True)


@certificates_cli.command("upload")
@click.option("--cluster", required=True, help="The domain's cluster.")
@click.option("--domain", required=True, help="The domain to serve with the certificate.")
@click.option("--certificate", "certificate_file", type=click.File("r"), required=True,
              help="PEM file of the chain: the server's certificate first, then its intermediates.")
@click.option("--key", "key_file", type=click.File("r"), required=True, help="PEM file of its unencrypted key.")
def upload(cluster: str, domain: str, certificate_file, key_file) -> None:
    """Check a certificate and key, create it on Deis under the panel's user and attach it to the domain."""
    try:
        deis = for_config(current_app.config).deis(cluster)
        result = upload_certificate(db.session, deis, CLI_ACTOR, cluster=cluster, domain=domain,
                                    certificate_pem=certificate_file.read(), key_pem=key_file.read(),
                                    sync_queue=queue(SYNC_QUEUE))
    except (CertificateRefused, NotConfigured) as error:
        raise click.ClickException(f"{error} Nothing was changed.") from error
    except CertificateUploadFailed as error:
        raise click.ClickException(str(error)) from error
    moved = f" (moved off {result.replaced}{', deleted' if result.removed else ''})" if result.replaced else ""
    click.echo(f"Certificate {result.name} now serves {result.domain} on {result.cluster}{moved}; expires "
               f"{result.expires_at:%Y-%m-%d}. A Deis sync of {result.cluster} is queued.")
