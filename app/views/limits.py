"""Limit sets (list, create, edit, delete), the drift page, the enforcement buttons and app types (admins change,
everyone reads)."""
from __future__ import annotations

import re

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from app.extensions import db
from app.limit_values import LimitValueError, parse_assignments
from app.models import App, Cluster, LimitSet
from app.operations import limit_sets, limits_enforcement
from app.queries import app_listing
from app.queries.limit_comparison import drift_report
from app.queues import queue
from app.views.access import admin_required
from app.views.query_reader import QueryReader

bp = Blueprint("limits", __name__, url_prefix="/limits")
ENFORCE_QUEUE = "default"


def _clusters() -> list[str]:
    return list(db.session.scalars(select(Cluster.name).order_by(Cluster.name)))


def _limits_field(kind: str) -> dict[str, str]:
    """A form's textarea of `PROC=VALUE`, one per line (or comma separated), checked as Deis checks them."""
    text = request.form.get(kind, "")[:4000]
    return parse_assignments(kind, [part for part in re.split(r"[\n,]", text) if part.strip()])


def _as_text(limits: dict) -> str:
    return "\n".join(f"{proc}={value}" for proc, value in sorted(limits.items()))


def _index_page(message: str | None = None, status: int = 200, form: dict | None = None):
    sets = db.session.scalars(select(LimitSet).join(LimitSet.cluster).order_by(Cluster.name, LimitSet.app_type)).all()
    return render_template("limits/index.html", limit_sets=sets, clusters=_clusters(), message=message,
                           form=form or {}, as_text=_as_text), status


@bp.get("/")
@login_required
def index():
    """Every limit set, and (for admins) the form for a new one."""
    return _index_page()


@bp.post("/")
@admin_required
def create():
    """Save a new limit set; refused (nothing changed) when a value is bad or the cluster and type have one."""
    form = {name: request.form.get(name, "")[:4000] for name in ("cluster", "app_type", "memory", "cpu")}
    form["unset_extra"] = request.form.get("unset_extra") == "on"
    try:
        limit_set = limit_sets.create_limit_set(
            db.session, cluster=form["cluster"], app_type=form["app_type"], memory=_limits_field("memory"),
            cpu=_limits_field("cpu"), unset_extra=form["unset_extra"], actor=current_user._get_current_object())
    except (LimitValueError, limit_sets.LimitSetRefused) as error:
        db.session.rollback()
        return _index_page(f"{error} Nothing was changed.", 400, form)
    flash(f"Limit set for {limit_set.app_type} on {limit_set.cluster.name} saved.", "info")
    return redirect(url_for("limits.index"))


def _edit_page(limit_set: LimitSet, message: str | None = None, status: int = 200, form: dict | None = None):
    form = form or {"memory": _as_text(limit_set.memory), "cpu": _as_text(limit_set.cpu),
                    "unset_extra": limit_set.unset_extra}
    return render_template("limits/edit.html", limit_set=limit_set, message=message, form=form), status


@bp.get("/<int:limit_set_id>/edit")
@admin_required
def edit(limit_set_id: int):
    """The form to change a limit set's limits."""
    return _edit_page(db.get_or_404(LimitSet, limit_set_id))


@bp.post("/<int:limit_set_id>")
@admin_required
def update(limit_set_id: int):
    """Change a limit set's limits; refused (nothing changed) when a value is bad."""
    limit_set = db.get_or_404(LimitSet, limit_set_id)
    form = {"memory": request.form.get("memory", "")[:4000], "cpu": request.form.get("cpu", "")[:4000],
            "unset_extra": request.form.get("unset_extra") == "on"}
    try:
        limit_sets.update_limit_set(db.session, limit_set, memory=_limits_field("memory"), cpu=_limits_field("cpu"),
                                    unset_extra=form["unset_extra"], actor=current_user._get_current_object())
    except (LimitValueError, limit_sets.LimitSetRefused) as error:
        db.session.rollback()
        return _edit_page(limit_set, f"{error} Nothing was changed.", 400, form)
    flash(f"Limit set for {limit_set.app_type} on {limit_set.cluster.name} changed.", "info")
    return redirect(url_for("limits.index"))


@bp.post("/<int:limit_set_id>/delete")
@admin_required
def delete(limit_set_id: int):
    """Delete a limit set: its apps are no longer checked."""
    limit_set = db.get_or_404(LimitSet, limit_set_id)
    label = f"{limit_set.app_type} on {limit_set.cluster.name}"
    limit_sets.delete_limit_set(db.session, limit_set, current_user._get_current_object())
    flash(f"Limit set for {label} deleted.", "info")
    return redirect(url_for("limits.index"))


@bp.get("/drift")
@login_required
def drift():
    """Each difference between an app's limits and its limit set (app, process type, kind, wanted, actual)."""
    reader = QueryReader(request.args)
    clusters = _clusters()
    cluster = reader.optional_choice("cluster", clusters)
    report = drift_report(db.session, cluster=cluster)
    return render_template("limits/drift.html", report=report, clusters=clusters, cluster=cluster,
                           errors=reader.errors, preview=None), 400 if reader.errors else 200


@bp.post("/enforce")
@admin_required
def enforce():
    """Enqueue an enforcement of a cluster, an app or everything (audited); `dry_run` shows what it would post."""
    cluster = request.form.get("cluster", "").strip()[:64] or None
    raw_app = request.form.get("app_id", "").strip()
    app_id = int(raw_app) if raw_app.isdigit() else None
    if request.form.get("dry_run") == "on":
        # Nothing is written: the drift page shows exactly the keys enforcement would post.
        report = drift_report(db.session, cluster=cluster, app_id=app_id)
        return render_template("limits/drift.html", report=report, clusters=_clusters(), cluster=cluster,
                               errors=[], preview=True)
    try:
        job = limits_enforcement.request_enforcement(db.session, queue(ENFORCE_QUEUE),
                                                     current_user._get_current_object(), cluster=cluster,
                                                     app_id=app_id)
    except limits_enforcement.EnforcementRequestError as error:
        return render_template("errors/error.html", status=400, title="Cannot enforce these limits",
                               message=f"{error} Nothing was changed."), 400
    scope = f"app #{app_id}" if app_id is not None else cluster or "every cluster"
    flash(f"Limit enforcement of {scope} is queued (job {job.id}): each change is a deploy, one app at a time. "
          "The audit log lists each change, and a Deis sync follows.", "info")
    return redirect(url_for("limits.drift", **({"cluster": cluster} if cluster else {})))


@bp.get("/apps/<int:app_id>/type")
@admin_required
def app_type_form(app_id: int):
    """The form to set one app's type in the panel."""
    return render_template("limits/app_type.html", app=db.get_or_404(App, app_id), message=None)


@bp.post("/apps/<int:app_id>/type")
@admin_required
def set_app_type(app_id: int):
    """Set one app's type (empty: back to its settings label); audited, drift recomputed."""
    app = db.get_or_404(App, app_id)
    try:
        limit_sets.set_app_types(db.session, [app], request.form.get("app_type", "")[:64],
                                 current_user._get_current_object())
    except limit_sets.LimitSetRefused as error:
        db.session.rollback()
        return render_template("limits/app_type.html", app=app, message=f"{error} Nothing was changed."), 400
    flash(f"{app.name} is of type {app.app_type}.", "info")
    return redirect(url_for("apps.show", app_id=app.id))


@bp.post("/apps/type")
@admin_required
def set_app_types():
    """Set the type of every app the applications list's filters match (the filters come with the form)."""
    reader = QueryReader(request.form)
    options = app_listing.app_filter_options(db.session)
    filters = app_listing.AppFilters(
        q=reader.text("q"), cluster=reader.optional_choice("cluster", options.clusters),
        app_type=reader.text("type", max_length=32) or None, monitoring=reader.flag("monitoring"),
        has_database=reader.flag("database"), limit_drift=reader.flag("drift"),
    )
    if reader.errors:
        return render_template("errors/error.html", status=400, title="Cannot set these app types",
                               message=" ".join(reader.errors) + " Nothing was changed."), 400
    apps = app_listing.filtered_apps(db.session, filters)
    try:
        changed = limit_sets.set_app_types(db.session, apps, request.form.get("app_type", "")[:64],
                                           current_user._get_current_object())
    except limit_sets.LimitSetRefused as error:
        db.session.rollback()
        return render_template("errors/error.html", status=400, title="Cannot set these app types",
                               message=f"{error} Nothing was changed."), 400
    flash(f"Type set for {changed} of the {len(apps)} app(s) the filters match.", "info")
    params = {key: request.form[key] for key in ("q", "cluster", "type", "monitoring", "database", "drift")
              if request.form.get(key)}
    return redirect(url_for("apps.index", **params))
