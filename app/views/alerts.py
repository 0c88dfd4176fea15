"""The alerts page: open, acknowledged and resolved alerts with their deliveries; acknowledging (admins); the
alerting settings (thresholds and channels, secrets masked)."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.extensions import db
from app.models import Alert, utcnow
from app.operations import alerts
from app.queries import alerts as alert_queries
from app.queries.paging import BadCursor
from app.views.access import admin_required
from app.views.htmx import render_page
from app.views.query_reader import QueryReader, cursor_param

bp = Blueprint("alerts", __name__, url_prefix="/alerts")


def _filters(source) -> dict[str, str]:
    return {key: source.get(key) for key in ("kind", "state") if source.get(key)}


@bp.get("/")
@login_required
def index():
    """Alerts filtered by kind and state, newest first, with failed deliveries on top."""
    reader = QueryReader(request.args)
    kind = reader.optional_choice("kind", alert_queries.ALERT_KINDS)
    state = reader.optional_choice("state", alert_queries.ALERT_STATES)
    try:
        page = alert_queries.alert_page(db.session, kind, state, reader.page(), after=cursor_param(reader, "after"),
                                        before=cursor_param(reader, "before"))
    except BadCursor as error:
        reader.errors.append(f"Bad page link ({error}): showing the first page.")
        page = alert_queries.alert_page(db.session, kind, state)
    failed, failed_total = alert_queries.failed_deliveries(db.session)
    params = {key: value for key, value in (("kind", kind), ("state", state)) if value}
    status = 400 if reader.errors else 404 if page.past_end else 200
    return render_page("alerts/index.html", "listing", push_url=url_for("alerts.index", **params), page=page,
                       kind=kind, state=state, kinds=alert_queries.ALERT_KINDS, states=alert_queries.ALERT_STATES,
                       counts=alert_queries.state_counts(db.session), failed=failed, failed_total=failed_total,
                       params=params, errors=reader.errors), status


@bp.post("/<int:alert_id>/acknowledge")
@admin_required
def acknowledge(alert_id: int):
    """Mark an alert as seen (admins; audited)."""
    alert = db.get_or_404(Alert, alert_id)
    try:
        alerts.acknowledge(db.session, alert, actor=current_user._get_current_object(), now=utcnow())
    except alerts.AlertActionError as error:
        flash(str(error), "error")
    else:
        flash(f"Acknowledged: {alert.message}", "info")
    return redirect(url_for("alerts.index", **_filters(request.form)))


@bp.get("/settings")
@login_required
def settings():
    """Thresholds and channels, read from the environment; webhook paths and the SMTP password masked."""
    alerting = alert_queries.alerting_settings(current_app.config["SETTINGS"])
    return render_template("settings/alerting.html", alerting=alerting)
