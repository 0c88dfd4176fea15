"""Who am I, my apps, an app's database (info and create)."""
from __future__ import annotations

from flask import current_app, g

from app.clients import for_config
from app.extensions import db
from app.operations.database_provisioning import ProvisioningRefused, create_database
from app.queries import developer_api
from app.views.api import bp
from app.views.api.auth import current_developer, developer_required, visible_app
from app.views.api.errors import ApiError
from app.views.api.schemas import (AppEnvelope, AppsEnvelope, CreateDatabaseIn, DatabaseEnvelope, OperationEnvelope,
                                   WhoamiOut)
from app.views.api.spec import documented


@bp.get("/whoami")
@developer_required
@bp.output(WhoamiOut)
@documented()
def whoami():
    """The Deis user the token belongs to, as its controller says."""
    developer = current_developer()
    return {"username": developer.username, "is_superuser": developer.is_superuser,
            "controller": developer.controller, "cluster": developer.cluster}


@bp.get("/apps")
@developer_required
@bp.output(AppsEnvelope)
@documented()
def list_apps():
    """The apps the token may see on its cluster (owner, shared, or every app for an admin), with database and
    backup summary."""
    developer = current_developer()
    names = g.developer_access.visible_apps()
    apps = developer_api.apps_on_cluster(db.session, developer.cluster, names)
    return {"apps": [developer_api.app_view(db.session, app) for app in apps]}


@bp.get("/apps/<string:app>")
@developer_required
@bp.output(AppEnvelope)
@documented(404)
def show_app(app: str):
    """One app the token may see."""
    return {"app": developer_api.app_view(db.session, visible_app(app))}


@bp.get("/apps/<string:app>/database")
@developer_required
@bp.output(DatabaseEnvelope)
@documented(404, 409)
def show_database(app: str):
    """The app's database: name, host, port, username and state (never its password)."""
    database = developer_api.current_database(visible_app(app))
    if database is None:
        raise ApiError(409, "no_database", f"{app} has no database: create one with POST .../database.", {"app": app})
    return {"database": developer_api.database_view(database)}


@bp.post("/apps/<string:app>/database")
@developer_required
@bp.input(CreateDatabaseIn, location="json", arg_name="body")
@bp.output(OperationEnvelope, status_code=202, description="Accepted: follow the operation")
@documented(404, 409, optional_body=True)
def create_app_database(app: str, body: CreateDatabaseIn):
    """Create the app's database through the Databases API; DATABASE_URL lands in the app's Deis config."""
    target = visible_app(app)
    developer = current_developer()
    if developer_api.current_database(target) is not None:
        raise ApiError(409, "database_exists", f"{app} already has database {target.database.name}.", {"app": app})
    clients = for_config(current_app.config)
    try:
        operation = create_database(db.session, clients.databases_api(), target, server=clients.database_server(
            developer.cluster), actor=developer.actor, replace=body.replace)
    except ProvisioningRefused as error:
        raise ApiError(409, "refused", f"{error} Nothing was changed.", {"app": app}) from error
    return {"operation": developer_api.operation_view(operation, target)}
