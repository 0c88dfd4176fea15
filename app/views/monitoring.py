"""One-click monitoring: turn an app's monit checks on or off (on its page or in the list), in bulk for the
filtered list, and set its health path. Admins only; each change is audited."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from jinja2_fragments.flask import render_block

from app.extensions import db
from app.models import App
from app.operations import monitoring
from app.queries import app_listing
from app.views.access import admin_required
from app.views.apps import filter_params, read_filters
from app.views.htmx import is_htmx_partial
from app.views.query_reader import QueryReader

bp = Blueprint("monitoring", __name__, url_prefix="/apps")
STATES = {"on": True, "off": False}
PLACES = ("list", "page")


@bp.post("/<int:app_id>/monitoring")
@admin_required
def toggle(app_id: int):
    """Turn one app's monitoring on or off; htmx gets the toggle back, in place."""
    app = db.get_or_404(App, app_id)
    state, place = request.form.get("enabled"), request.form.get("place", "page")
    if state not in STATES or place not in PLACES:
        abort(400)
    monitoring.set_enabled(db.session, app, STATES[state], actor=current_user._get_current_object())
    if is_htmx_partial():
        return render_template("apps/_monitoring_toggle.html", app=app, place=place)
    return redirect(url_for("apps.show", app_id=app.id) if place == "page" else url_for("apps.index"))


@bp.post("/<int:app_id>/health-path")
@admin_required
def health_path(app_id: int):
    """Set the path monit requests; a path that could break out of monit's syntax is refused with why."""
    app = db.get_or_404(App, app_id)
    value = request.form.get("health_path", "")
    try:
        monitoring.set_health_path(db.session, app, value, actor=current_user._get_current_object())
    except monitoring.MonitoringError as error:
        if is_htmx_partial():
            return render_block("apps/show.html", "monitoring", app=app, health_path_error=str(error),
                                health_path_value=value), 400
        return render_template("errors/error.html", status=400, title="Health path refused",
                               message=f"{error} Nothing was changed."), 400
    if is_htmx_partial():
        return render_block("apps/show.html", "monitoring", app=app)
    flash(f"Health path of {app.name} is now {app.health_path}.", "info")
    return redirect(url_for("apps.show", app_id=app.id))


@bp.post("/monitoring")
@admin_required
def bulk():
    """Turn monitoring on or off for every app the list's filters match (all pages); audited with the counts."""
    reader = QueryReader(request.form)
    filters = read_filters(reader, app_listing.app_filter_options(db.session))
    state = request.form.get("enabled")
    if state not in STATES:
        reader.errors.append("Say whether to turn monitoring on or off.")
    if reader.errors:
        # Never fall back to "no filter": a mistyped cluster must not switch every app on the platform.
        return _bulk_answer(" ".join(reader.errors) + " Nothing was changed.", filter_params(filters), 400)
    matched, changed = monitoring.set_enabled_for(db.session, app_listing.matching_app_ids(filters), STATES[state],
                                                  current_user._get_current_object(), filter_params(filters))
    unchanged = matched - changed
    message = (f"Monitoring turned {state} for {changed} of the {matched} matching apps"
               + (f" ({unchanged} already {'were' if unchanged != 1 else 'was'} {state})." if unchanged else "."))
    return _bulk_answer(message, filter_params(filters), 200)


def _bulk_answer(message: str, params: dict[str, str], status: int):
    if is_htmx_partial():
        response = render_template("apps/_bulk_monitoring_result.html", message=message, refused=status != 200)
        # The rows reload themselves on this event, so their badges show the new state without a page load.
        return response, status, ({"HX-Trigger": "monitoring-changed"} if status == 200 else {})
    if status != 200:
        return render_template("errors/error.html", status=status, title="Bulk change refused", message=message), status
    flash(message, "info")
    return redirect(url_for("apps.index", **params))
