"""Uploading a certificate for a domain: checked here, created on Deis under the panel's own user, attached to the
domain (moving it off the certificate it had, which is deleted once nothing uses it), audited without the key, then
a sync of the cluster is requested so the panel shows it.

Why the old certificate goes: the controller keeps a certificate's key write-only, so an unused one can never be
reused for anything else, and left there it would only keep raising expiry alerts for something nothing serves.
One still serving another domain stays. Deis has no atomic swap: between the detach and the attach the domain is
served without its certificate for as long as the router takes to reload.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from rq import Queue
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from app import audit
from app.models import App, Cluster, Domain, User, utcnow
from app.operations import sync_requests
from app.operations.certificate_checks import CertificateRefused, CheckedCertificate, certificate_name, \
    check_upload, normalized_domain
from app.services.deis import DeisClient, DeisError

logger = logging.getLogger(__name__)
CONFLICT = 409

__all__ = ["CertificateRefused", "CertificateUploadFailed", "UploadResult", "upload_certificate"]


class CertificateUploadFailed(RuntimeError):
    """Deis refused or failed part of an upload; the message says what was done already and how to go on."""


@dataclass(frozen=True)
class UploadResult:
    name: str
    cluster: str
    domain: str
    app: App
    common_name: str | None
    expires_at: datetime
    reused: bool  # the same certificate was on Deis already (an earlier upload), so it was not created again
    replaced: str | None  # the certificate the domain was moved off
    removed: bool  # whether that one was deleted (nothing else used it)
    sync_job_id: str | None


def find_domain(session: Session, cluster: str, domain: str) -> Domain:
    """The panel's row of `domain` on `cluster` (as the last Deis sync saw it), or CertificateRefused."""
    if session.scalar(select(Cluster.id).where(Cluster.name == cluster)) is None:
        raise CertificateRefused(f"No cluster called {cluster[:64]!r}.")
    row = session.scalar(
        select(Domain).join(Domain.app).join(App.cluster)
        .where(Cluster.name == cluster, Domain.name == normalized_domain(domain))
        .options(joinedload(Domain.app), joinedload(Domain.certificate))
    )
    if row is None:
        raise CertificateRefused(f"No domain {normalized_domain(domain)[:255]!r} on cluster {cluster}: add it to its "
                                 "app first (deis domains:add), then let a Deis sync pick it up.")
    return row


def upload_certificate(
    session: Session, deis: DeisClient, actor: User | str, *, cluster: str, domain: str, certificate_pem: str,
    key_pem: str, sync_queue: Queue | None = None, now: datetime | None = None,
) -> UploadResult:
    """Check the chain and key for `domain`, create the certificate on Deis and attach it; audited, committed.

    Bad input raises CertificateRefused before Deis is called. A Deis failure raises CertificateUploadFailed
    (after auditing what was done); uploading the same certificate again goes on from where it stopped.
    """
    checked = check_upload(certificate_pem, key_pem, domain, now or utcnow())
    domain_row = find_domain(session, cluster, domain)
    domain_name = domain_row.name
    name = certificate_name(domain_name, checked)
    steps: list[str] = []
    replaced: str | None = None
    removed = reused = False
    try:
        deis.ensure_panel_user()  # created under any other user, the panel (and its sync) could never see it
        existing = deis.get_certificate(name)
        if existing is None:
            created = deis.create_certificate(name, checked.chain_pem, checked.key_pem)
            steps.append(f"created certificate {name}")
        else:
            created, reused = existing, True
        if domain_name not in created.domains:
            # Asked first rather than learnt from a 409: a 409 whose answer is lost reads back like a lost attach.
            replaced = _holder(deis, name, domain_name)
            if replaced is not None:
                deis.detach_domain(replaced, domain_name)
                steps.append(f"detached {domain_name} from {replaced}")
            try:
                deis.attach_domain(name, domain_name)
            except DeisError as error:
                if replaced is not None:
                    _put_back(deis, replaced, domain_name, steps)
                if error.status != CONFLICT:
                    raise
                raise DeisError(deis.cluster, error.call, f"{domain_name} already has a certificate that belongs to "
                                "another Deis user, and Deis lets only its owner detach it. Ask that user to run "
                                "`deis certs:detach`", CONFLICT) from error
            steps.append(f"attached {domain_name} to {name}")
            if replaced is not None:
                removed = _remove_if_unused(deis, replaced)
            if removed:
                steps.append(f"deleted {replaced}, which served nothing else")
    except DeisError as error:
        _record(session, actor, domain_row, checked, name, cluster, replaced, removed, error=str(error))
        session.commit()
        done = f" Done before it failed: {'; '.join(steps)}." if steps else " Nothing was changed on Deis."
        raise CertificateUploadFailed(f"{error}.{done} Upload the same certificate again to go on from there."
                                      ) from error
    _record(session, actor, domain_row, checked, name, cluster, replaced, removed, error=None)
    session.commit()
    logger.info("certificate %s for %s on %s uploaded by %s", name, domain_name, cluster,
                actor if isinstance(actor, str) else actor.username)
    job_id = None
    if sync_queue is not None:
        job_id = sync_requests.request_sync(session, sync_queue, sync_requests.SCOPED_SOURCE, cluster, actor).job_id
    return UploadResult(name=name, cluster=cluster, domain=domain_name, app=domain_row.app,
                        common_name=checked.common_name, expires_at=checked.leaf.not_valid_after_utc, reused=reused,
                        replaced=replaced, removed=removed, sync_job_id=job_id)


def _holder(deis: DeisClient, name: str, domain: str) -> str | None:
    """The panel user's certificate (other than `name`) serving `domain` now, if any."""
    for certificate in deis.list_certificates():
        if certificate.name != name and domain in certificate.domains:
            return certificate.name
    return None


def _put_back(deis: DeisClient, old: str, domain: str, steps: list[str]) -> None:
    """After a failed attach, serve the domain with its old certificate again rather than with none."""
    try:
        deis.attach_domain(old, domain)
    except DeisError:
        steps.append(f"could not put {domain} back on {old}: it is served without a certificate now")
    else:
        steps.append(f"put {domain} back on {old}")


def _remove_if_unused(deis: DeisClient, name: str) -> bool:
    old = deis.get_certificate(name)
    if old is None or old.domains:
        return False
    deis.delete_certificate(name)
    return True


def _record(session: Session, actor: User | str, domain: Domain, checked: CheckedCertificate, name: str,
            cluster: str, replaced: str | None, removed: bool, error: str | None) -> None:
    # What an operator needs to follow the change; the key is not here, nor anything derived from it.
    after = {
        # Keys avoid the words the audit log masks ("cert", "key"); the fingerprint is spelt as Deis shows it.
        "cluster": cluster, "domain": domain.name, "name": name, "common_name": checked.common_name,
        "sans": checked.sans, "fingerprint": ":".join(checked.fingerprint[i:i + 2] for i in range(0, 64, 2)),
        "expires_at": checked.leaf.not_valid_after_utc.isoformat(), "issuer": checked.leaf.issuer.rfc4514_string(),
        "replaced": replaced, "replaced_removed": removed,
    }
    if error is not None:
        after["error"] = error
    before = {"name": domain.certificate.name if domain.certificate else None}
    audit.record(session, actor=actor, action="certificate.upload" if error is None else "certificate.upload_failed",
                 target=domain.app, before=before, after=after)
