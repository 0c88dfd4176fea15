"""Settings: which clusters each monitor watches, internal tools, and API clients. Everyone reads; admins change."""
from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from app.extensions import db
from app.models import ApiClient, Cluster, InternalTool
from app.models.monitoring import MONITORING_KIND
from app.operations import api_clients, monitoring
from app.queries import monit
from app.views.access import admin_required, reauth_required

bp = Blueprint("settings", __name__, url_prefix="/settings")


@bp.get("/")
@login_required
def index():
    return render_template("settings/index.html")


# -- Monitors ---------------------------------------------------------------------------------------------------
def _monitors_page(status: int = 200, error: str | None = None):
    return render_template("settings/monitors.html", views=monit.monitor_views(db.session), error=error), status


@bp.get("/monitors")
@login_required
def monitors():
    """Each monitoring cluster with the clusters it watches (defaults marked)."""
    return _monitors_page()


@bp.post("/monitors/<int:monitor_id>")
@admin_required
def set_watches(monitor_id: int):
    monitor = db.get_or_404(Cluster, monitor_id)
    if monitor.kind != MONITORING_KIND:
        abort(404)
    raw = request.form.getlist("watch")
    if not all(value.isascii() and value.isdigit() for value in raw):
        return _monitors_page(400, "The chosen clusters are not cluster ids; reload the page and try again.")
    try:
        changed = monitoring.set_watched_clusters(db.session, monitor, {int(value) for value in raw},
                                                  actor=current_user._get_current_object())
    except monitoring.MonitoringError as error:
        return _monitors_page(400, f"{error} Nothing was changed.")
    flash(f"{monitor.name} {'now watches the chosen clusters' if changed else 'already watched these clusters'}.",
          "info")
    return redirect(url_for("settings.monitors"))


# -- Internal tools ---------------------------------------------------------------------------------------------
def _tools_page(status: int = 200, error: str | None = None, name: str = "", url: str = ""):
    tools = db.session.scalars(select(InternalTool).order_by(InternalTool.name)).all()
    return render_template("settings/internal_tools.html", tools=tools, error=error, name=name, url=url), status


@bp.get("/internal-tools")
@login_required
def internal_tools():
    """The internal tools every monitor checks."""
    return _tools_page()


@bp.post("/internal-tools")
@admin_required
def add_internal_tool():
    name, url = request.form.get("name", ""), request.form.get("url", "")
    try:
        tool = monitoring.add_internal_tool(db.session, name, url, actor=current_user._get_current_object())
    except monitoring.MonitoringError as error:
        return _tools_page(400, f"{error} Nothing was changed.", name, url)
    flash(f"Every monitor now checks {tool.name}.", "info")
    return redirect(url_for("settings.internal_tools"))


@bp.post("/internal-tools/<int:tool_id>/delete")
@admin_required
def remove_internal_tool(tool_id: int):
    tool = db.get_or_404(InternalTool, tool_id)
    name = tool.name
    monitoring.remove_internal_tool(db.session, tool, actor=current_user._get_current_object())
    flash(f"{name} is no longer checked.", "info")
    return redirect(url_for("settings.internal_tools"))


# -- API clients ------------------------------------------------------------------------------------------------
def _clients_page(status: int = 200, error: str | None = None, new_token: tuple[ApiClient, str] | None = None,
                  name: str = ""):
    clients = db.session.scalars(select(ApiClient).order_by(ApiClient.name)).all()
    response = make_response(render_template("settings/api_clients.html", clients=clients, scopes=api_clients.SCOPES,
                                             error=error, new_token=new_token, name=name), status)
    if new_token:
        # The token is in this body only: never in a cookie or a log, and never cached.
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/api-clients")
@login_required
def api_client_list():
    """The machine clients (Chef, internal tools), their scopes and when each last used its token."""
    return _clients_page()


@bp.post("/api-clients")
@admin_required
@reauth_required
def create_api_client():
    """Create a client; its token is shown once, in this answer."""
    name = request.form.get("name", "")
    try:
        client, token = api_clients.create_client(db.session, name, request.form.getlist("scope"),
                                                  actor=current_user._get_current_object())
    except api_clients.ApiClientError as error:
        return _clients_page(400, f"{error} Nothing was changed.", name=name)
    return _clients_page(201, new_token=(client, token))


@bp.post("/api-clients/<int:client_id>/revoke")
@admin_required
@reauth_required
def revoke_api_client(client_id: int):
    client = db.get_or_404(ApiClient, client_id)
    try:
        api_clients.revoke_client(db.session, client, actor=current_user._get_current_object())
    except api_clients.ApiClientError as error:
        return _clients_page(400, str(error))
    flash(f"API client {client.name} is revoked: its token no longer works.", "info")
    return redirect(url_for("settings.api_client_list"))
