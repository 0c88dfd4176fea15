"""The Chef endpoints: each monitoring cluster's monit checks, as a control file fragment or as JSON.

Machines call these with `Authorization: Bearer <token>` of an API client holding the `monit:read` scope (no
session, no CSRF: GET only). Every answer carries a strong ETag, and a matching `If-None-Match` gets
`304 Not Modified`, so Chef can poll often and reload monit only when the file really changed. The monit files'
ETags come from version counters the database keeps (app/queries/monit.py): a 304 renders nothing.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import wraps

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from app.extensions import db
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
            if not db.session().in_transaction():
                # Reads only (and one conditional single-statement write of "last used"), each statement seeing
                # what is committed, as PostgreSQL's READ COMMITTED did anyway: without the transaction's BEGIN and
                # ROLLBACK, a 304 costs two database round trips fewer.
                db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            client = api_clients.authenticate(db.session, token.strip())
            if client is None:
                return _refuse(401, "This token is unknown or revoked.", f'{REALM}, error="invalid_token"')
            if scope not in client.scopes:
                return _refuse(403, f"API client {client.name} lacks the scope {scope}.",
                               f'{REALM}, error="insufficient_scope", scope="{scope}"')
            return view(*args, **kwargs)

        return wrapper

    return decorate


def _not_modified(etag: str) -> bool:
    return request.if_none_match.contains_weak(etag)


def _tagged(etag: str, body: str | None, mimetype: str) -> Response:
    """The body (None: 304, the caller holds these bytes) with its strong ETag."""
    response = Response(status=304) if body is None else Response(body, mimetype=mimetype)
    response.set_etag(etag)
    response.headers["Cache-Control"] = "private, no-cache"  # may be kept, but asked about again every time
    return response


def _conditional(body: str, mimetype: str) -> Response:
    """The body with its digest as strong ETag, or 304 when the caller already has these bytes."""
    digest = hashlib.sha256(body.encode()).hexdigest()
    return _tagged(digest, None if _not_modified(digest) else body, mimetype)


def _unknown_monitor(name: str) -> Response:
    known = [view.monitor.name for view in monit.monitor_views(db.session)]
    response = jsonify({"error": f"No monitoring cluster called {name[:64]!r}.", "monitors": known})
    response.status_code = 404
    return response


def _monit_file(name: str, representation: str, render: Callable[[monit.MonitPlan], str],
                mimetype: str) -> Response:
    """One monitor's file: its ETag first (a 304 stops there), then, only if needed, the plan and its rendering."""
    days = current_app.config["SETTINGS"].monit_cert_min_days
    etag = monit.monit_etag(db.session, name, days, representation)
    if etag is None:
        return _unknown_monitor(name)
    if _not_modified(etag):
        return _tagged(etag, None, mimetype)
    monitor = monit.find_monitor(db.session, name)
    if monitor is None:  # deleted since its ETag was read
        return _unknown_monitor(name)
    return _tagged(etag, render(monit.monit_plan(db.session, monitor, days)), mimetype)


@bp.get("/monit/<monitor>.conf")
@scope_required(MONIT_SCOPE)
def monit_conf(monitor: str):
    """The monit checks of one monitoring cluster, ready to include from monitrc."""
    return _monit_file(monitor, "conf", monit.render_conf, "text/plain")


@bp.get("/monit/<monitor>.json")
@scope_required(MONIT_SCOPE)
def monit_json(monitor: str):
    """The same checks as data."""
    return _monit_file(monitor, "json", monit.render_json, "application/json")


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
