"""Signing a developer in with their own Deis token, and the apps they may act on (404 for any other, never 403)."""
from __future__ import annotations

import re
from functools import wraps

from flask import current_app, g, request

from app import audit
from app.extensions import db
from app.models import App
from app.queries import developer_access
from app.queries.developer_access import Developer, DeveloperAccess
from app.queries.developer_api import app_on_cluster
from app.queues import redis_connection
from app.views.api.errors import ApiError

CONTROLLER_HEADER = "X-Deis-Controller"
AUDIT_CHANNEL = "api/v1"
APP_NAME = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


def developer_required(view):
    """Check `Authorization: token ...` with the controller of `X-Deis-Controller` (cached) before the view runs."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        settings = current_app.config["SETTINGS"]
        token = developer_access.token_from_header(request.headers.get("Authorization"))
        controller = request.headers.get(CONTROLLER_HEADER)
        if not controller:
            raise ApiError(400, "bad_request", f"Send {CONTROLLER_HEADER}: the controller URL of ~/.deis/client.json.",
                           {"header": CONTROLLER_HEADER})
        cluster = developer_access.cluster_for_controller(settings.deis_clusters, controller)
        access = DeveloperAccess(cluster, token, redis_connection(), settings.dev_token_cache_seconds)
        g.developer_access = access
        g.developer = access.developer()
        g.audit_channel_reset = audit.channel_var.set(AUDIT_CHANNEL)
        return view(*args, **kwargs)

    return wrapper


def end_of_request(_error: BaseException | None = None) -> None:
    """Forget the audit channel once the request is over (a worker thread serves other requests next)."""
    reset = g.pop("audit_channel_reset", None)
    if reset is not None:
        try:
            audit.channel_var.reset(reset)
        except ValueError:  # set in another context (cannot happen with Flask's request handling): clear it
            audit.channel_var.set(None)


def current_developer() -> Developer:
    return g.developer


def visible_app(name: str) -> App:
    """The panel's app `name` on the developer's cluster if the controller lets their token see it, else 404 (the
    same answer as for an app that does not exist)."""
    developer: Developer = g.developer
    app = app_on_cluster(db.session, developer.cluster, name) if APP_NAME.fullmatch(name) else None
    if app is None or not g.developer_access.may_see(name):
        raise ApiError(404, "not_found", f"No app called {name[:64]!r} that you may see on {developer.cluster}.",
                       {"app": name[:64]})
    return app
