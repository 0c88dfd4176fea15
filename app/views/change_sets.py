"""DNS change sets: the list, a plan's diff, apply / resume / rollback with live progress, and the plans one click
makes (cluster switch, repoint, follow an instance, clean up dangling records). Every change needs the password."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from app.clients import NotConfigured, for_config
from app.extensions import db
from app.models import ChangeSet, Cluster, DnsZone, Instance
from app.operations import change_sets, cluster_switch, dangling, repoint
from app.operations.change_sets import ChangeSetRefused
from app.queries import change_sets as queries
from app.queries import following
from app.queues import queue
from app.services.cloudflare_dns import CloudflareError
from app.views.access import admin_required, reauth_required
from app.views.htmx import is_htmx_partial, render_page

bp = Blueprint("change_sets", __name__, url_prefix="/change-sets")
STOP_POLLING = 286  # htmx stops an `every 1s` trigger when it gets this status
APPLY_QUEUE = "default"


@bp.app_template_global("records_following")
def records_following(instance_id: int | None = None) -> list[following.FollowingInstance]:
    """For the instance and DNS pages: the records still on an instance's old address."""
    return following.following(db.session, instance_id)


def _refused(title: str, error: Exception, status: int = 400):
    return render_template("errors/error.html", status=status, title=title, message=str(error)), status


def _cloudflare():
    return for_config(current_app.config).cloudflare()


def _actor():
    return current_user._get_current_object()


def _plan(title: str, make):
    """Run a planner; on success show the new plan, else say why nothing was planned."""
    try:
        change_set = make()
    except ChangeSetRefused as error:
        return _refused(title, error)
    except CloudflareError as error:
        return _refused(title, error, 502)
    except NotConfigured as error:  # a panel without CLOUDFLARE_API_TOKEN: say so, not a 500
        return _refused(title, f"Cloudflare is not configured ({error}).", 503)
    return redirect(url_for("change_sets.show", change_set_id=change_set.id))


@bp.get("/")
@login_required
def index():
    """Every change set, newest first, and the forms that plan a cluster switch or a repoint."""
    return render_template(
        "change_sets/index.html", rows=queries.recent(db.session),
        clusters=list(db.session.scalars(select(Cluster.name).order_by(Cluster.name))),
        zones=list(db.session.scalars(select(DnsZone.name).order_by(DnsZone.name))),
        instances=list(db.session.scalars(select(Instance.name).where(Instance.name.is_not(None))
                                          .order_by(Instance.name))))


@bp.get("/<int:change_set_id>")
@login_required
def show(change_set_id: int):
    """A change set: its diff, state, live progress, who and when, and what can be done with it next."""
    change_set = queries.detail(db.session, change_set_id)
    if change_set is None:
        abort(404)
    context = {"change_set": change_set, "diff": queries.diff(change_set),
               "rollback": queries.rollback_of(db.session, change_set),
               "interrupted": change_set.state == "applying" and change_sets.job_gone(queue(APPLY_QUEUE), change_set)}
    response = render_page("change_sets/show.html", "progress", **context)
    if is_htmx_partial() and (change_set.finished or context["interrupted"]):
        response.status_code = STOP_POLLING
    return response


@bp.post("/switch")
@admin_required
@reauth_required
def plan_switch():
    """Plan switching a cluster's records to another cluster (shown for review, nothing applied yet)."""
    form = request.form
    return _plan("Cannot plan this switch", lambda: cluster_switch.plan_switch(
        db.session, _cloudflare(), form.get("source", ""), form.get("target", ""), _actor(),
        zone_name=form.get("zone") or None, app_name=form.get("app") or None))


@bp.post("/repoint")
@admin_required
@reauth_required
def plan_repoint():
    """Plan handing a replaced instance's records to another instance."""
    return _plan("Cannot plan this repoint", lambda: repoint.plan_repoint(
        db.session, _cloudflare(), request.form.get("source", ""), request.form.get("target", ""), _actor()))


@bp.post("/follow/<int:instance_id>")
@admin_required
@reauth_required
def plan_follow(instance_id: int):
    """One click: plan repointing the records that follow this instance's old address to its new one."""
    instance = db.get_or_404(Instance, instance_id)
    return _plan("Cannot plan this repoint", lambda: repoint.plan_follow(
        db.session, _cloudflare(), instance.aws_id, _actor()))


@bp.post("/dangling")
@admin_required
@reauth_required
def plan_dangling():
    """Plan deleting the chosen dangling records (or pointing them at an instance)."""
    record_ids = [int(value) for value in request.form.getlist("record") if value.isdigit()]
    return _plan("Cannot plan this clean-up", lambda: dangling.plan_cleanup(
        db.session, _cloudflare(), record_ids, _actor(), repoint_to=request.form.get("repoint_to") or None))


@bp.post("/<int:change_set_id>/drop")
@admin_required
def drop(change_set_id: int):
    """Leave the ticked rows out of a plan."""
    change_set = db.get_or_404(ChangeSet, change_set_id)
    item_ids = [int(value) for value in request.form.getlist("item") if value.isdigit()]
    try:
        change_sets.drop_items(db.session, change_set, item_ids, _actor())
    except ChangeSetRefused as error:
        return _refused("Cannot change this plan", error, 409)
    return redirect(url_for("change_sets.show", change_set_id=change_set.id))


@bp.post("/<int:change_set_id>/apply")
@admin_required
@reauth_required
def apply(change_set_id: int):
    """Apply a plan, or resume a partially applied set, on a worker; the page follows its progress."""
    change_set = db.get_or_404(ChangeSet, change_set_id)
    try:
        change_sets.request_apply(db.session, queue(APPLY_QUEUE), change_set, _actor())
    except ChangeSetRefused as error:
        return _refused("Cannot apply this change set", error, 409)
    return redirect(url_for("change_sets.show", change_set_id=change_set.id))


@bp.post("/<int:change_set_id>/rollback")
@admin_required
@reauth_required
def rollback(change_set_id: int):
    """One click: put every record this set changed back to its exact before state (a change set of its own)."""
    change_set = db.get_or_404(ChangeSet, change_set_id)
    try:
        undo = change_sets.plan_rollback(db.session, change_set, _actor())
        change_sets.request_apply(db.session, queue(APPLY_QUEUE), undo, _actor())
    except ChangeSetRefused as error:
        return _refused("Cannot roll this change set back", error, 409)
    return redirect(url_for("change_sets.show", change_set_id=undo.id))
