"""`flask limits ...`: limit sets, app types, drift and enforcement for operators and scripts."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from app.clients import for_config
from app.extensions import db
from app.limit_values import LimitValueError, parse_assignments
from app.models import App, Cluster, LimitSet
from app.operations.limit_sets import LimitSetRefused, create_limit_set, delete_limit_set, set_app_types
from app.operations.limits_enforcement import enforce_limits
from app.queries.limit_comparison import drift_report
from app.queries.sync_status import SYNC_QUEUE
from app.queues import queue

limits_cli = AppGroup("limits", help="Memory and CPU limit sets per cluster and app type, drift and enforcement.")
CLI_ACTOR = "cli"


def _limits_text(limits: dict) -> str:
    return ",".join(f"{proc}={value}" for proc, value in sorted(limits.items())) or "-"


@limits_cli.command("list")
def list_limit_sets() -> None:
    """Every limit set: cluster, app type, memory, cpu, unset-extra, how many of its apps drift."""
    drifting = select(func.count(App.id)).where(App.cluster_id == LimitSet.cluster_id,
                                                App.app_type == LimitSet.app_type,
                                                App.limit_drift.is_(True)).correlate(LimitSet).scalar_subquery()
    rows = db.session.execute(select(LimitSet, drifting).join(LimitSet.cluster)
                              .order_by(Cluster.name, LimitSet.app_type)).tuples().all()
    for limit_set, drift_count in rows:
        click.echo(f"{limit_set.cluster.name:<16}  {limit_set.app_type:<16}  memory {_limits_text(limit_set.memory):<32}"
                   f"  cpu {_limits_text(limit_set.cpu):<24}  {'unset-extra' if limit_set.unset_extra else '-':<11}"
                   f"  {drift_count} drifting")
    click.echo(f"{len(rows)} limit set{'s' if len(rows) != 1 else ''}", err=True)


@limits_cli.command("set")
@click.argument("cluster")
@click.argument("app_type")
@click.option("--memory", multiple=True, metavar="PROC=VALUE", help="Memory per process type (64M, 1G, 256M/512M).")
@click.option("--cpu", multiple=True, metavar="PROC=VALUE", help="CPU per process type (500m, 1, 250m/1).")
@click.option("--unset-extra", is_flag=True, help="Enforcement removes limits of process types the set lacks.")
@click.option("--replace", is_flag=True, help="Replace the set of this cluster and type if there is one.")
def set_limits(cluster: str, app_type: str, memory: tuple[str, ...], cpu: tuple[str, ...], unset_extra: bool,
               replace: bool) -> None:
    """Save the limits wanted for every APP_TYPE app on CLUSTER (values checked as Deis checks them)."""
    try:
        limit_set = create_limit_set(db.session, cluster=cluster, app_type=app_type,
                                     memory=parse_assignments("memory", memory), cpu=parse_assignments("cpu", cpu),
                                     unset_extra=unset_extra, actor=CLI_ACTOR, replace=replace)
    except (LimitValueError, LimitSetRefused) as error:
        raise click.ClickException(f"{error} Nothing was changed.") from error
    drifting = db.session.scalar(select(func.count(App.id)).where(
        App.cluster_id == limit_set.cluster_id, App.app_type == limit_set.app_type, App.limit_drift.is_(True)))
    click.echo(f"Limit set for {limit_set.app_type} on {limit_set.cluster.name}: memory "
               f"{_limits_text(limit_set.memory)}, cpu {_limits_text(limit_set.cpu)}"
               f"{', unset extra' if limit_set.unset_extra else ''}. {drifting} app(s) drift from it.")


@limits_cli.command("delete")
@click.argument("cluster")
@click.argument("app_type")
def delete(cluster: str, app_type: str) -> None:
    """Delete the limit set of CLUSTER and APP_TYPE."""
    limit_set = db.session.scalar(select(LimitSet).join(LimitSet.cluster).where(
        Cluster.name == cluster, LimitSet.app_type == app_type))
    if limit_set is None:
        raise click.ClickException(f"No limit set for type {app_type!r} on {cluster!r}. Nothing was changed.")
    delete_limit_set(db.session, limit_set, CLI_ACTOR)
    click.echo(f"Deleted the limit set for {app_type} on {cluster}.")


@limits_cli.command("app-type")
@click.argument("cluster")
@click.argument("app_name")
@click.argument("app_type", required=False)
def app_type(cluster: str, app_name: str, app_type: str | None) -> None:
    """Set APP_NAME's type in the panel (a sync keeps it); without APP_TYPE, back to its settings label."""
    app = db.session.scalar(select(App).join(App.cluster).where(Cluster.name == cluster, App.name == app_name))
    if app is None:
        raise click.ClickException(f"No app {app_name!r} on {cluster!r}. Nothing was changed.")
    try:
        set_app_types(db.session, [app], app_type, CLI_ACTOR)
    except LimitSetRefused as error:
        raise click.ClickException(f"{error} Nothing was changed.") from error
    click.echo(f"{app.name} on {cluster} is of type {app.app_type}"
               f"{' (set in the panel)' if app.app_type_override else ' (from its settings label)'}.")


@limits_cli.command("drift")
@click.option("--cluster", default=None, help="Only this cluster.")
def drift(cluster: str | None) -> None:
    """Every difference between an app's limits and its limit set: cluster, app, process type, kind, wanted, actual."""
    report = drift_report(db.session, cluster=cluster)
    for item in report:
        for difference in item.differences:
            click.echo(f"{item.app.cluster.name:<16}  {item.app.name:<32}  {difference.process_type:<12}  "
                       f"{difference.kind:<6}  wanted {difference.wanted or '(unset)':<12}  "
                       f"actual {difference.actual or '(none)'}")
    click.echo(f"{len(report)} app{'s' if len(report) != 1 else ''} drifting", err=True)


@limits_cli.command("enforce")
@click.option("--cluster", default=None, help="Only this cluster.")
@click.option("--dry-run", is_flag=True, help="Print what would be posted; change nothing.")
def enforce(cluster: str | None, dry_run: bool) -> None:
    """Post the differing limits of every drifting app, one app at a time; a sync of each cluster follows."""
    if cluster is not None and db.session.scalar(select(Cluster.id).where(Cluster.name == cluster)) is None:
        raise click.ClickException(f"No cluster called {cluster!r}. Nothing was changed.")
    settings = current_app.config["SETTINGS"]
    report = enforce_limits(db.session, for_config(current_app.config).deis, CLI_ACTOR, cluster=cluster,
                            dry_run=dry_run, interval_seconds=settings.limits_enforce_interval,
                            sync_queue=None if dry_run else queue(SYNC_QUEUE))
    for item in report.apps:
        posted = "; ".join(f"{kind} {_limits_text({p: v or 'unset' for p, v in keys.items()})}"
                           for kind, keys in item.payload.items())
        line = f"{item.cluster}/{item.app}: {item.outcome}" + (f" ({posted})" if posted else "")
        click.echo(line + (f": {item.error}" if item.error else ""))
    if dry_run:
        click.echo(f"Dry run: {len(report.apps)} app(s) drift; nothing was changed.", err=True)
    else:
        queued = f"; a Deis sync is queued for {', '.join(report.syncs_requested)}" if report.syncs_requested else ""
        click.echo(f"{len(report.fixed)} app(s) fixed, {len(report.failed)} could not be{queued}.", err=True)
    if report.failed:
        raise SystemExit(1)
