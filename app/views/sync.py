"""Synchronisation: the latest run of every source, the history grouped by request, 'Sync now' with live progress
(one request fanned out over its scopes), and confirming the deletions a run held back."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block
from sqlalchemy import select

from app.extensions import db
from app.models import Cluster, SyncRun, utcnow
from app.operations import sync_requests
from app.queries import sync_status
from app.queues import queue, redis_connection
from app.views.access import admin_required
from app.views.htmx import is_htmx_partial, render_page
from app.views.query_reader import QueryReader

bp = Blueprint("sync", __name__, url_prefix="/sync")
bp.add_app_template_filter(sync_status.run_duration, "duration")
STOP_POLLING = 286  # htmx stops an `every 1s` trigger when it gets this status
FINISHED_EVENT = "sync-finished"  # told to the page when a request ends: its tables and buttons reload
# The parts of the page htmx reloads by id (the HX-Target header names the one it wants).
PARTS = {"sync-buttons": "buttons", "sync-tables": "tables", "history": "history"}


def _controls() -> dict:
    open_requests = sync_status.open_requests(db.session, redis_connection())
    return {"open_requests": open_requests,
            "clusters": list(db.session.scalars(select(Cluster.name).order_by(Cluster.name))),
            "sources": sync_status.SYNC_SOURCES}


def _running(open_requests, source: str | None, scope: str | None):
    """The open request a button's sync would join, if any (the button then says it is running)."""
    return next((each for each in open_requests if each.covers(source, scope)), None)


@bp.app_template_global("sync_running")
def sync_running(open_requests, source=None, scope=None):
    return _running(open_requests, source, scope)


@bp.get("/")
@login_required
def index():
    """The latest run of every source and scope, the history, the next scheduled run, and (admins) the buttons."""
    reader = QueryReader(request.args)
    source = reader.optional_choice("source", sync_status.SYNC_SOURCES)
    history = sync_status.run_history(db.session, source, reader.page())
    status = 400 if reader.errors else 404 if history.past_end else 200
    params = {"source": source} if source else {}
    settings = current_app.config["SETTINGS"]
    block = PARTS.get(request.headers.get("HX-Target", ""), "history")
    controls = _controls()
    progress = [sync_status.request_progress(db.session, redis_connection(), each.id)
                for each in controls["open_requests"]]
    return render_page(
        "sync/index.html", block, push_url=url_for("sync.index", **params) if block == "history" else None,
        latest=sync_status.latest_runs(db.session), history=history,
        groups=sync_status.history_groups(db.session, history.items), source=source, errors=reader.errors,
        params=params, progress_list=progress, **controls,
        next_sync=sync_status.next_scheduled_sync(utcnow(), settings.sync_interval_minutes),
        interval=settings.sync_interval_minutes,
        max_delete_percent=f"{settings.sync_max_delete_fraction * 100:g}"), status


def _answer(requested: sync_requests.Requested):
    """htmx: the buttons (now saying what runs) and, for a new request, its progress panel; else its page."""
    if not is_htmx_partial():
        return redirect(url_for("sync.request_page", request_id=requested.request.id))
    progress = sync_status.request_progress(db.session, redis_connection(), requested.request.id)
    return render_block("sync/index.html", "buttons", **_controls(), requested=requested, new_progress=progress)


@bp.post("/run")
@admin_required
def run():
    """Queue a sync (admins), or point at the one already running that covers it."""
    try:
        requested = sync_requests.request_sync(db.session, queue(sync_status.SYNC_QUEUE), request.form.get("source"),
                                               request.form.get("scope"), current_user._get_current_object())
    except sync_requests.SyncRequestError as error:
        if is_htmx_partial():
            # Said above the progress panels; the buttons stay as they are.
            return render_block("sync/job.html", "request_error", message=str(error)), 400, {
                "HX-Retarget": "#sync-progress-area", "HX-Reswap": "afterbegin"}
        return render_template("errors/error.html", status=400, title="Cannot start this sync",
                               message=str(error)), 400
    return _answer(requested)


@bp.post("/runs/<int:run_id>/confirm-deletion")
@admin_required
def confirm_deletion(run_id: int):
    """Queue a run that applies the deletions this run held back (admins); then like 'Sync now'."""
    sync_run = db.get_or_404(SyncRun, run_id)
    try:
        requested = sync_requests.confirm_deletion(db.session, queue(sync_status.SYNC_QUEUE), sync_run,
                                                   current_user._get_current_object())
    except sync_requests.NothingToConfirm as error:
        if is_htmx_partial():
            return render_block("sync/job.html", "request_error", message=str(error)), 409
        return render_template("errors/error.html", status=409, title="Nothing to confirm", message=str(error)), 409
    return _answer(requested)


@bp.get("/requests/<int:request_id>")
@login_required
def request_page(request_id: int):
    """A sync request's progress over its scopes; answers htmx with 286 once it is over (the polling stops) and
    tells the page, whose tables and buttons then reload."""
    progress = sync_status.request_progress(db.session, redis_connection(), request_id)
    if progress is None:
        abort(404)
    if is_htmx_partial():
        response = make_response(render_block("sync/job.html", "progress", progress=progress),
                                 STOP_POLLING if progress.done else 200)
        if progress.done:
            response.headers["HX-Trigger"] = FINISHED_EVENT
        return response
    return render_template("sync/job.html", progress=progress)


@bp.get("/jobs/<job_id>")
@login_required
def job(job_id: str):
    """Links to a job (of a request's fan-out, one of its scopes, or its final step) lead to its request."""
    request_id = sync_status.request_for_job(db.session, job_id[:64])
    if request_id is None:
        abort(404)
    return redirect(url_for("sync.request_page", request_id=request_id))
