"""The Chef endpoints: each monitoring cluster's monit checks, as a control file fragment or as JSON.

Machines call these with `Authorization: Bearer <token>` of an API client holding the `monit:read` scope (no
session, no CSRF: GET only). Every answer carries a strong ETag, and a matching `If-None-Match` gets
`304 Not Modified`, so Chef can poll often and reload monit only when the file really changed.
"""
from __future__ import annotations

import hashlib
import json
from functools import wraps

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from app.extensions import db
from app.models import Cluster
from app.operations import api_clients
from app.queries import monit

bp = Blueprint("chef", __name__, url_prefix="/chef")
MONIT_SCOPE = "monit:read"
REALM = 'Bearer realm="admin-panel"'


def _refuse(status: int, message: str, authenticate: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    response.headers["WWW-Authenticate"] = authenticate
    response.headers["Cache-Control"] = "no-store"
    return response


def scope_required(scope: str):
    """Allow only a request with the bearer token of an active API client holding `scope`."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            kind, _, token = request.headers.get("Authorization", "").partition(" ")
            if kind.lower() != "bearer" or not token.strip():
                return _refuse(401, "Send the token of an API client: Authorization: Bearer <token>.", REALM)
            client = api_clients.authenticate(db.session, token.strip())
            if client is None:
                return _refuse(401, "This token is unknown or revoked.", f'{REALM}, error="invalid_token"')
            if scope not in client.scopes:
                return _refuse(403, f"API client {client.name} lacks the scope {scope}.",
                               f'{REALM}, error="insufficient_scope", scope="{scope}"')
            return view(*args, **kwargs)

        return wrapper

    return decorate


def _conditional(body: str, mimetype: str) -> Response:
    """The body with its strong ETag, or 304 when the caller already has these bytes."""
    digest = hashlib.sha256(body.encode()).hexdigest()
    if request.if_none_match.contains_weak(digest):
        response = Response(status=304)
    else:
        response = Response(body, mimetype=mimetype)
    response.set_etag(digest)
    response.headers["Cache-Control"] = "private, no-cache"  # may be kept, but asked about again every time
    return response


def _monitor_or_404(name: str) -> Cluster | Response:
    monitor = monit.find_monitor(db.session, name)
    if monitor is None:
        known = [view.monitor.name for view in monit.monitor_views(db.session)]
        response = jsonify({"error": f"No monitoring cluster called {name[:64]!r}.", "monitors": known})
        response.status_code = 404
        return response
    return monitor


def _plan(name: str) -> monit.MonitPlan | Response:
    monitor = _monitor_or_404(name)
    if isinstance(monitor, Response):
        return monitor
    return monit.monit_plan(db.session, monitor, current_app.config["SETTINGS"].monit_cert_min_days)


@bp.get("/monit/<monitor>.conf")
@scope_required(MONIT_SCOPE)
def monit_conf(monitor: str):
    """The monit checks of one monitoring cluster, ready to include from monitrc."""
    plan = _plan(monitor)
    if isinstance(plan, Response):
        return plan
    return _conditional(monit.render_conf(plan), "text/plain")


@bp.get("/monit/<monitor>.json")
@scope_required(MONIT_SCOPE)
def monit_json(monitor: str):
    """The same checks as data."""
    plan = _plan(monitor)
    if isinstance(plan, Response):
        return plan
    return _conditional(json.dumps(monit.plan_json(plan), indent=2, sort_keys=True) + "\n", "application/json")


@bp.get("/monitors.json")
@scope_required(MONIT_SCOPE)
def monitors():
    """Every monitoring cluster, what it watches, and where its files are."""
    listing = {"monitors": [
        {"name": view.monitor.name, "region": view.monitor.region.name,
         "watches": [cluster.name for cluster in view.watched],
         "conf_url": url_for("chef.monit_conf", monitor=view.monitor.name, _external=True),
         "json_url": url_for("chef.monit_json", monitor=view.monitor.name, _external=True)}
        for view in monit.monitor_views(db.session)
    ]}
    return _conditional(json.dumps(listing, indent=2, sort_keys=True) + "\n", "application/json")
