"""`flask backups capture|list|restore|clone`: an app's database backups, through the Databases API."""
from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup

from app.clients import for_config
from app.commands.databases import CLI_ACTOR, report
from app.extensions import db
from app.models import App, Backup, Database
from app.operations import database_backups
from app.operations.database_backups import BackupRefused
from app.queries.databases import AppNotFound, backup_row, backups_of, find_app

backups_cli = AppGroup("backups", help="Backups of apps' databases: capture, list, restore, clone.")


def _app_database(reference: str) -> tuple[App, Database]:
    try:
        app = find_app(db.session, reference)
    except AppNotFound as error:
        raise click.ClickException(str(error)) from error
    if app.database is None:
        raise click.ClickException(f"{app.name} has no database of the panel (`flask databases create {app.name}`).")
    return app, app.database


def _backup(backup_id: int) -> Backup:
    backup = db.session.get(Backup, backup_id)
    if backup is None:
        raise click.ClickException(f"No backup #{backup_id}.")
    return backup


@backups_cli.command("capture")
@click.argument("app_name", metavar="APP")
@click.option("--wait", is_flag=True, help="Wait until the backup has finished.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds --wait waits.")
def capture(app_name: str, wait: bool, timeout: float) -> None:
    """Back up APP's database now (a manual backup)."""
    _app, database = _app_database(app_name)
    try:
        operation = database_backups.capture(db.session, for_config(current_app.config).databases_api(), database,
                                             actor=CLI_ACTOR)
    except BackupRefused as error:
        raise click.ClickException(f"{error} Nothing was changed.") from error
    report(operation, wait=wait, timeout=timeout)


@backups_cli.command("list")
@click.argument("app_name", metavar="APP")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
def list_backups(app_name: str, as_json: bool) -> None:
    """APP's backups, newest first: id, kind, state, size, time."""
    _app, database = _app_database(app_name)
    backups = backups_of(db.session, database)
    if as_json:
        click.echo(json.dumps({"database": database.name, "backups": [backup_row(b) for b in backups]}, indent=2))
        return
    for backup in backups:
        size = f"{backup.size_bytes} B" if backup.size_bytes is not None else "-"
        origin = f"  (clone of #{backup.cloned_from_id})" if backup.cloned_from_id else ""
        click.echo(f"#{backup.id:<6} {backup.kind:<10} {backup.state:<10} {size:>14}  "
                   f"{backup.started_at:%Y-%m-%d %H:%M:%S} UTC{origin}")
    click.echo(f"{len(backups)} backup{'s' if len(backups) != 1 else ''}", err=True)


@backups_cli.command("restore")
@click.argument("app_name", metavar="APP")
@click.argument("backup_id", type=int)
@click.option("--wait", is_flag=True, help="Wait until the restore has finished.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds --wait waits.")
def restore(app_name: str, backup_id: int, wait: bool, timeout: float) -> None:
    """Restore backup BACKUP_ID of APP's database into it (clone another app's backup to APP first)."""
    app, database = _app_database(app_name)
    backup = _backup(backup_id)
    if backup.database_id != database.id:
        raise click.ClickException(f"Backup #{backup.id} is not {app.name}'s: `flask backups clone {backup.id} --to"
                                   f" {app.name}` first. Nothing was changed.")
    try:
        operation = database_backups.restore(db.session, for_config(current_app.config).databases_api(), backup,
                                             actor=CLI_ACTOR)
    except BackupRefused as error:
        raise click.ClickException(f"{error} Nothing was changed.") from error
    report(operation, wait=wait, timeout=timeout)


@backups_cli.command("clone")
@click.argument("backup_id", type=int)
@click.option("--to", "target", required=True, metavar="APP", help="The app whose database gets the backup.")
def clone(backup_id: int, target: str) -> None:
    """Register backup BACKUP_ID for another app's database (`flask backups restore APP ID` then restores it)."""
    try:
        app = find_app(db.session, target)
        cloned = database_backups.clone(db.session, _backup(backup_id), app, actor=CLI_ACTOR)
    except (AppNotFound, BackupRefused) as error:
        raise click.ClickException(f"{error} Nothing was changed.") from error
    click.echo(f"Backup #{cloned.id} of {app.name} is a clone of #{backup_id};"
               f" restore it with `flask backups restore {app.name} {cloned.id}`.")
