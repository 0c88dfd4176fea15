"""Databases: create (202), show, delete (202), back up (202), restore (202)."""
from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint

from dbapi.operations import backups, databases, restores
from dbapi.operations.views import database_view, operation_view
from dbapi.views.auth import service_auth
from dbapi.views.schemas import CallbackIn, CreateDatabaseIn, DatabaseOut, OperationEnvelope, RestoreIn

bp = APIBlueprint("databases", __name__, tag="Databases")


@bp.post("/databases")
@bp.auth_required(service_auth)
@bp.input(CreateDatabaseIn, location="json", arg_name="body")
@bp.output(OperationEnvelope, status_code=202, description="Accepted; the result is POSTed to callback_url")
@bp.doc(responses=[400, 409])
def create_database(body: CreateDatabaseIn) -> dict[str, Any]:
    """Create a role and a database owned by it.

    The callback carries the connection parameters, including the role's password (shown nowhere else).
    The same request_id returns the same operation.
    """
    operation = databases.request_create(
        name=body.name, server=body.server, owner_role=body.owner_role, callback_url=body.callback_url,
        request_id=body.request_id,
    )
    return {"operation": operation_view(operation)}


@bp.get("/databases/<string:database_id>")
@bp.auth_required(service_auth)
@bp.output(DatabaseOut)
def show_database(database_id: str) -> dict[str, Any]:
    """Show a database (never its password)."""
    return database_view(databases.database_or_404(database_id))


@bp.delete("/databases/<string:database_id>")
@bp.auth_required(service_auth)
@bp.input(CallbackIn, location="json", arg_name="body")
@bp.output(OperationEnvelope, status_code=202, description="Accepted; the result is POSTed to callback_url")
@bp.doc(responses=[400, 409])
def delete_database(database_id: str, body: CallbackIn) -> dict[str, Any]:
    """Drop a database and its role (asynchronous). Its backups stay until deleted."""
    operation = databases.request_delete(database_id, callback_url=body.callback_url, request_id=body.request_id)
    return {"operation": operation_view(operation)}


@bp.post("/databases/<string:database_id>/backups")
@bp.auth_required(service_auth)
@bp.input(CallbackIn, location="json", arg_name="body")
@bp.output(OperationEnvelope, status_code=202, description="Accepted; the result is POSTed to callback_url")
@bp.doc(responses=[400, 409])
def create_backup(database_id: str, body: CallbackIn) -> dict[str, Any]:
    """Back up a database: pg_dump, compressed and encrypted while it streams into storage."""
    operation = backups.request_backup(database_id, callback_url=body.callback_url, request_id=body.request_id)
    return {"operation": operation_view(operation)}


@bp.post("/databases/<string:database_id>/restore")
@bp.auth_required(service_auth)
@bp.input(RestoreIn, location="json", arg_name="body")
@bp.output(OperationEnvelope, status_code=202, description="Accepted; the result is POSTed to callback_url")
@bp.doc(responses=[400, 409])
def restore_database(database_id: str, body: RestoreIn) -> dict[str, Any]:
    """Restore a succeeded backup (of this or any other database) into this database."""
    operation = restores.request_restore(
        database_id, backup_id=body.backup_id, callback_url=body.callback_url, request_id=body.request_id
    )
    return {"operation": operation_view(operation)}
