"""`flask dns ...`: plan, apply and roll back DNS change sets (cluster switch, repoint) from a terminal."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from app.clients import for_config
from app.extensions import db
from app.models import ChangeSet
from app.operations import change_sets, cluster_switch, repoint
from app.operations.change_sets import ChangeSetRefused
from app.queries import change_sets as change_set_queries
from app.queues import queue

dns_cli = AppGroup("dns", help="DNS change sets: cluster switch, repoint, rollback.")
ACTOR = "cli"


def _cloudflare():
    return for_config(current_app.config).cloudflare()


def _print_plan(change_set: ChangeSet) -> None:
    click.echo(f"{change_set.description}: {len(change_set.items)} change(s)")
    for item in change_set.items:
        click.echo(f"  {change_set_queries.plan_line(item)}    [{item.zone_name}; {item.reason}]")


def _apply(change_set: ChangeSet, wait: bool) -> None:
    """Apply in the foreground with progress (--wait), or enqueue the apply job; exit 1 unless it ends applied."""
    try:
        change_sets.request_apply(db.session, None if wait else queue("default"), change_set, ACTOR)
    except ChangeSetRefused as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"change set {change_set.id}")
    if not wait:
        click.echo(f"applying on a worker: follow it with flask dns change-sets (job {change_set.job_id})")
        return
    outcome = change_sets.apply(db.session, _cloudflare(), change_set.id, sync_queue=queue("sync"),
                                listeners=[lambda cs: click.echo(f"  {cs.progress:3d}% {cs.progress_message}")])
    click.echo(f"change set {outcome.id}: {outcome.state} ({outcome.cloudflare_calls} Cloudflare requests)")
    if outcome.state != "applied":
        for item in outcome.items:
            if item.error:
                click.echo(f"  {item.state}: {change_set_queries.plan_line(item)}: {item.error}", err=True)
        click.echo(outcome.error or "", err=True)
        raise SystemExit(1)


def _planned(plan) -> ChangeSet:
    try:
        return plan()
    except ChangeSetRefused as error:
        raise click.ClickException(str(error)) from error


@dns_cli.command("switch")
@click.option("--from", "source", required=True, help="The cluster whose records move.")
@click.option("--to", "target", required=True, help="The cluster that takes them over.")
@click.option("--zone", default=None, help="Only records of this zone.")
@click.option("--app", "app_name", default=None, help="Only records of this app's domains.")
@click.option("--apply", "apply_now", is_flag=True, help="Apply the plan (otherwise it is only printed and kept).")
@click.option("--wait", is_flag=True, help="Apply in the foreground and wait for the outcome.")
def switch(source: str, target: str, zone: str | None, app_name: str | None, apply_now: bool, wait: bool) -> None:
    """Plan (and apply) switching a cluster's DNS records to another cluster's load balancer."""
    change_set = _planned(lambda: cluster_switch.plan_switch(db.session, _cloudflare(), source, target, ACTOR,
                                                             zone_name=zone, app_name=app_name))
    _print_plan(change_set)
    if apply_now:
        _apply(change_set, wait)
    else:
        click.echo(f"not applied (plan #{change_set.id} kept): run again with --apply, or apply it on its page")


@dns_cli.command("repoint")
@click.option("--from", "source", required=True, help="The instance (Name tag or AWS id) whose records move.")
@click.option("--to", "target", required=True, help="The instance that takes them over.")
@click.option("--apply", "apply_now", is_flag=True, help="Apply the plan.")
@click.option("--wait", is_flag=True, help="Apply in the foreground and wait for the outcome.")
def repoint_command(source: str, target: str, apply_now: bool, wait: bool) -> None:
    """Plan (and apply) moving a replaced instance's records to another instance."""
    change_set = _planned(lambda: repoint.plan_repoint(db.session, _cloudflare(), source, target, ACTOR))
    _print_plan(change_set)
    if apply_now:
        _apply(change_set, wait)
    else:
        click.echo(f"not applied (plan #{change_set.id} kept): run again with --apply, or apply it on its page")


@dns_cli.command("apply")
@click.argument("change_set_id", type=int)
@click.option("--wait", is_flag=True, help="Apply in the foreground and wait for the outcome.")
def apply_command(change_set_id: int, wait: bool) -> None:
    """Apply a planned change set, or resume a partially applied one."""
    change_set = db.session.get(ChangeSet, change_set_id)
    if change_set is None:
        raise click.ClickException(f"No change set #{change_set_id}.")
    _apply(change_set, wait)


@dns_cli.command("rollback")
@click.argument("change_set_id", type=int)
@click.option("--wait", is_flag=True, help="Roll back in the foreground and wait for the outcome.")
def rollback(change_set_id: int, wait: bool) -> None:
    """Put every record an applied change set changed back to its exact before state."""
    change_set = db.session.get(ChangeSet, change_set_id)
    if change_set is None:
        raise click.ClickException(f"No change set #{change_set_id}.")
    undo = _planned(lambda: change_sets.plan_rollback(db.session, change_set, ACTOR))
    _print_plan(undo)
    _apply(undo, wait)


@dns_cli.command("change-sets")
@click.option("--limit", type=int, default=50, show_default=True)
def list_change_sets(limit: int) -> None:
    """List change sets, newest first."""
    rows = change_set_queries.recent(db.session, limit=limit)
    if not rows:
        click.echo("no change sets")
    for row in rows:
        change_set = row.change_set
        click.echo(f"#{change_set.id:<5} {change_set.kind:<15} {change_set.state:<18} {row.items:>5} changes  "
                   f"{change_set.created_at:%Y-%m-%d %H:%M} {change_set.created_by:<12} {change_set.description}")
