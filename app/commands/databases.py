"""`flask databases create APP [--wait] [--replace]`: a database for an app through the Databases API."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from app.clients import NotConfigured, for_config
from app.extensions import db
from app.models import Operation
from app.operations.database_provisioning import ProvisioningRefused, create_database
from app.queries.databases import AppNotFound, find_app, wait_finished

databases_cli = AppGroup("databases", help="Databases of apps, through the Databases API.")
CLI_ACTOR = "cli"


def report(operation: Operation, *, wait: bool, timeout: float) -> None:
    """Print where an operation stands (waiting for its callback with --wait); exit non-zero when it failed."""
    if wait and operation.state not in ("succeeded", "failed"):
        operation = wait_finished(db.session, operation, timeout=timeout)
    line = f"Operation {operation.uuid} ({operation.kind} {operation.target}): {operation.state}"
    if operation.progress_message:
        line += f" ({operation.progress_message})"
    if operation.state == "failed":
        raise click.ClickException(f"{line}: {operation.error}")
    click.echo(line)
    if wait and operation.state != "succeeded":
        raise click.ClickException(f"still {operation.state} after {timeout:g} s; the callback has not arrived yet")


@databases_cli.command("create")
@click.argument("app_name", metavar="APP")
@click.option("--wait", is_flag=True, help="Wait until the database is ready and DATABASE_URL is set.")
@click.option("--replace", is_flag=True, help="Replace a DATABASE_URL that was set by hand.")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds --wait waits.")
def create(app_name: str, wait: bool, replace: bool, timeout: float) -> None:
    """Create a database for APP (or CLUSTER/APP) on its cluster's server and set its DATABASE_URL."""
    clients = for_config(current_app.config)
    try:
        app = find_app(db.session, app_name)
        operation = create_database(db.session, clients.databases_api(), app, actor=CLI_ACTOR, replace=replace,
                                    server=clients.database_server(app.cluster.name))
    except (AppNotFound, ProvisioningRefused, NotConfigured) as error:
        raise click.ClickException(f"{error} Nothing was changed.") from error
    report(operation, wait=wait, timeout=timeout)
