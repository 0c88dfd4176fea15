"""Synchronisation: the latest run of every source, the history, 'Sync now' with live progress, and confirming the
deletions a run held back."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from jinja2_fragments.flask import render_block
from sqlalchemy import select

from app.extensions import db
from app.models import Cluster, SyncRun
from app.operations import sync_requests
from app.queries import sync_status
from app.queues import queue, redis_connection
from app.views.access import admin_required
from app.views.htmx import is_htmx_partial, render_page
from app.views.query_reader import QueryReader

bp = Blueprint("sync", __name__, url_prefix="/sync")
bp.add_app_template_filter(sync_status.run_duration, "duration")
STOP_POLLING = 286  # htmx stops an `every 1s` trigger when it gets this status


@bp.get("/")
@login_required
def index():
    """The latest run of every source and scope, the history, and (for admins) the sync buttons."""
    reader = QueryReader(request.args)
    source = reader.optional_choice("source", sync_status.SYNC_SOURCES)
    history = sync_status.run_history(db.session, source, reader.page())
    clusters = list(db.session.scalars(select(Cluster.name).order_by(Cluster.name)))
    status = 400 if reader.errors else 404 if history.past_end else 200
    params = {"source": source} if source else {}
    return render_page("sync/index.html", "history", push_url=url_for("sync.index", **params),
                       latest=sync_status.latest_runs(db.session), history=history, source=source,
                       sources=sync_status.SYNC_SOURCES, clusters=clusters, errors=reader.errors,
                       params=params,
                       max_delete_percent=f"{current_app.config['SETTINGS'].sync_max_delete_fraction * 100:g}"), status


@bp.post("/run")
@admin_required
def run():
    """Enqueue a sync (admins); htmx gets the progress panel, a plain form post the job page."""
    try:
        job = sync_requests.request_sync(db.session, queue(sync_status.SYNC_QUEUE), request.form.get("source"),
                                         request.form.get("scope"), current_user._get_current_object())
    except sync_requests.SyncRequestError as error:
        if is_htmx_partial():
            return render_block("sync/job.html", "request_error", message=str(error)), 400
        return render_template("errors/error.html", status=400, title="Cannot start this sync",
                               message=str(error)), 400
    if not is_htmx_partial():
        return redirect(url_for("sync.job", job_id=job.id))
    progress = sync_status.job_progress(db.session, redis_connection(), job.id)
    return render_block("sync/job.html", "progress", progress=progress)


@bp.post("/runs/<int:run_id>/confirm-deletion")
@admin_required
def confirm_deletion(run_id: int):
    """Enqueue a run that applies the deletions this run held back (admins); then like 'Sync now'."""
    sync_run = db.get_or_404(SyncRun, run_id)
    try:
        job = sync_requests.confirm_deletion(db.session, queue(sync_status.SYNC_QUEUE), sync_run,
                                             current_user._get_current_object())
    except sync_requests.NothingToConfirm as error:
        if is_htmx_partial():
            return render_block("sync/job.html", "request_error", message=str(error)), 409
        return render_template("errors/error.html", status=409, title="Nothing to confirm", message=str(error)), 409
    if not is_htmx_partial():
        return redirect(url_for("sync.job", job_id=job.id))
    progress = sync_status.job_progress(db.session, redis_connection(), job.id)
    return render_block("sync/job.html", "progress", progress=progress)


@bp.get("/jobs/<job_id>")
@login_required
def job(job_id: str):
    """A sync job's progress; answers htmx with 286 once the job is over, which stops the polling."""
    progress = sync_status.job_progress(db.session, redis_connection(), job_id)
    if progress is None:
        abort(404)
    if is_htmx_partial():
        return render_block("sync/job.html", "progress", progress=progress), STOP_POLLING if progress.done else 200
    return render_template("sync/job.html", progress=progress)
