"""`flask backup-policy ...`: a cluster's backup rotation policy, the dry run of what it would delete, and an
on-demand restore drill."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from app.clients import for_config
from app.extensions import db
from app.models import Cluster, utcnow
from app.operations.backup_rotation import PolicyRefused, set_policy
from app.operations.restore_drills import DrillRefused, drill_now
from app.queries.backup_rotation import DatabaseNotFound, policy_for, rotation_preview

backup_policy_cli = AppGroup("backup-policy", help="Backup rotation per cluster: show, set, and a dry run per app.")
CLI_ACTOR = "cli"


def _preview(app_name: str, cluster: str | None):
    try:
        return rotation_preview(db.session, app_name, utcnow(), cluster)
    except DatabaseNotFound as error:
        raise click.ClickException(str(error)) from error


@backup_policy_cli.command("show")
@click.argument("app_name", metavar="APP")
@click.option("--cluster", help="The app's cluster, when apps of that name run on several.")
def show(app_name: str, cluster: str | None) -> None:
    """The rotation policy that applies to APP's database (its cluster's)."""
    preview = _preview(app_name, cluster)
    click.echo(f"{preview.app} on {preview.cluster}: {preview.policy.describe()}")


@backup_policy_cli.command("dry-run")
@click.argument("app_name", metavar="APP")
@click.option("--cluster", help="The app's cluster, when apps of that name run on several.")
def dry_run(app_name: str, cluster: str | None) -> None:
    """Every backup of APP's database with what rotation would do now; deletes nothing."""
    preview = _preview(app_name, cluster)
    zone = preview.database.cluster.region.zone
    click.echo(f"{preview.app} on {preview.cluster}: {preview.policy.describe()}")
    for verdict in preview.verdicts:
        backup = verdict.backup
        click.echo(f"{'keep' if verdict.keep else 'DELETE':<6}  #{backup.id:<6}  "
                   f"{backup.started_at.astimezone(zone):%Y-%m-%d %H:%M %Z}  {backup.kind:<9}  {backup.state:<9}  "
                   f"{verdict.reason}")
    click.echo(f"would delete {len(preview.deletions)} of {len(preview.verdicts)} backups (dry run: nothing deleted)",
               err=True)


@backup_policy_cli.command("set")
@click.argument("cluster_name", metavar="CLUSTER")
@click.option("--daily", "keep_daily", type=int, help="Nightly backups kept, one per local day.")
@click.option("--weekly", "keep_weekly", type=int, help="Weeks kept, the newest backup of each.")
@click.option("--monthly", "keep_monthly", type=int, help="Months kept, the newest backup of each.")
@click.option("--manual-cap", "manual_cap", type=int, help="At most this many manual and uploaded backups.")
def set_command(cluster_name: str, **numbers: int | None) -> None:
    """Set CLUSTER's rotation policy (the numbers not given stay as they are); audited."""
    cluster = db.session.scalar(select(Cluster).where(Cluster.name == cluster_name))
    if cluster is None:
        raise click.ClickException(f"no cluster named {cluster_name!r}")
    values = {name: value for name, value in numbers.items() if value is not None}
    if not values:
        raise click.ClickException("nothing to set: give --daily, --weekly, --monthly or --manual-cap")
    try:
        set_policy(db.session, cluster, actor=CLI_ACTOR, **values)
    except PolicyRefused as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"{cluster.name}: {policy_for(db.session, cluster.id).describe()}")


@backup_policy_cli.command("drill")
@click.argument("app_name", metavar="APP")
@click.option("--cluster", help="The app's cluster, when apps of that name run on several.")
def drill(app_name: str, cluster: str | None) -> None:
    """A restore drill of APP's newest good backup now, whenever it was last drilled (the result comes back
    asynchronously: the backup shows verified, or an alert says why not)."""
    database = _preview(app_name, cluster).database
    # Imported here: the verify action lives in the Databases API side of the panel (its own module).
    from app.operations import database_backups

    dbapi = for_config(current_app.config).databases_api()
    try:
        backup = drill_now(db.session, database,
                           lambda row: database_backups.verify(db.session, dbapi, row, actor=CLI_ACTOR))
    except DrillRefused as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"restore drill of backup #{backup.id} of {database.name} started")
