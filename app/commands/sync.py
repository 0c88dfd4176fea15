"""`flask sync run`: a synchronisation in the foreground, with a progress bar, for operators and scripts;
`flask sync queue`: the same request "Sync now" makes, for the workers."""
from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import AppGroup

from app.clients import for_config
from app.extensions import db
from app.models import SyncRequest
from app.operations import sync_requests
from app.queries.sync_status import SYNC_QUEUE, request_progress
from app.queues import queue, redis_connection
from app.sync import runner
from app.sync.locks import redis_locks
from app.sync.runs import SyncFailed

sync_cli = AppGroup("sync", help="Synchronise Deis, AWS and Cloudflare into the panel.")


@sync_cli.command("run")
@click.option("--source", type=click.Choice(runner.SOURCES), default=None, help="Only this source (default: all).")
@click.option("--scope", default=None, help="Only this cluster (deis), region (aws) or zone (cloudflare).")
@click.option("--wait", type=float, default=0, show_default=True,
              help="Seconds to wait for a run of the same scope already in progress (else it is skipped).")
@click.option("--allow-mass-delete", is_flag=True, default=False,
              help="Apply deletions of more than SYNC_MAX_DELETE_FRACTION of the scope (one scope only).")
def run(source: str | None, scope: str | None, wait: float, allow_mass_delete: bool) -> None:
    """Run a sync now and print what changed."""
    clients = for_config(current_app.config)
    try:
        requests = runner.plan(clients, source, scope)
    except runner.UnknownScope as error:
        raise click.BadParameter(str(error), param_hint="--scope") from error
    if not requests:
        raise click.ClickException("nothing to synchronise: no clusters, regions or Cloudflare token configured")
    if allow_mass_delete and len(requests) != 1:
        # A confirmation is about one scope's numbers; letting every scope mass-delete at once is not one.
        raise click.UsageError("--allow-mass-delete applies to one scope at a time: give --source and --scope")
    lock = redis_locks(redis_connection(), wait_seconds=wait)
    failures = 0
    for request in requests:
        label = f"{request.source}/{request.scope}"
        with click.progressbar(length=100, label=f"{label:<28}", show_percent=True) as bar:
            def advance(percent: int, message: str, bar=bar) -> None:
                bar.update(percent - bar.pos)

            try:
                sync_run = runner.run_one(db.session, clients, lock, request, triggered_by="cli", listeners=[advance],
                                          allow_mass_delete=allow_mass_delete)
            except SyncFailed as error:
                failures += 1
                click.echo(f"\n{label}: FAILED — {error} (nothing was deleted)", err=True)
                continue
        if sync_run is None:
            click.echo(f"{label}: skipped, another run of this scope is in progress")
            continue
        seconds = (sync_run.finished_at - sync_run.started_at).total_seconds()
        click.echo(f"{label}: created {sync_run.created}, updated {sync_run.updated}, deleted {sync_run.deleted},"
                   f" unchanged {sync_run.unchanged}; {sync_run.api_calls} API calls in {seconds:.1f} s")
        if sync_run.waiting_for_confirmation:
            failures += 1  # the scope is not in step with its source: a script must not take it for done
            click.echo(f"{label}: NEEDS CONFIRMATION — {sync_run.progress_message}. To apply it: flask sync run"
                       f" --source {request.source} --scope {request.scope} --allow-mass-delete", err=True)
    if failures:
        raise SystemExit(1)


@sync_cli.command("queue")
@click.option("--source", type=click.Choice(runner.SOURCES), default=None, help="Only this source (default: all).")
@click.option("--scope", default=None, help="Only this Deis cluster.")
@click.option("--wait", "wait_seconds", type=float, default=0, show_default=True,
              help="Seconds to wait for the workers to finish it (0: return once queued).")
def queue_sync(source: str | None, scope: str | None, wait_seconds: float) -> None:
    """Queue a sync for the workers (one job per scope), as "Sync now" does; prints where to follow it."""
    try:
        requested = sync_requests.request_sync(db.session, queue(SYNC_QUEUE), source, scope, "cli")
    except sync_requests.SyncRequestError as error:
        raise click.BadParameter(str(error)) from error
    request_id = requested.request.id
    verb = "is already queued or running" if requested.already_open else "queued"
    click.echo(f"{requested.request.title} {verb}: /sync/requests/{request_id}")
    deadline = time.monotonic() + wait_seconds
    while wait_seconds and time.monotonic() < deadline:
        db.session.expire_all()
        if not db.session.get(SyncRequest, request_id).is_open:
            break
        time.sleep(0.5)
    if wait_seconds:
        progress = request_progress(db.session, redis_connection(), request_id)
        click.echo(progress.summary)
        if not progress.done or progress.failed:
            raise SystemExit(1)
