"""Create and delete databases: the request (checked now, answered 202) and the job (run by the worker)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from dbapi import pgtools, runtime
from dbapi.models import Database, DatabaseState, Operation, OperationKind, OperationState, db, utcnow
from dbapi.operations import idempotency, lifecycle
from dbapi.operations.callback_targets import require_allowed_callback
from dbapi.operations.errors import OperationFailed, Refused
from dbapi.operations.views import database_view
from dbapi.pgtools import InvalidNameError, PgServer


def request_create(
    *, name: str, server: str, owner_role: str | None, callback_url: str, request_id: str | None
) -> Operation:
    """Record a create_database operation and queue it; Refused for an unknown server or a name in use."""
    require_allowed_callback(callback_url)
    body = {"name": name, "server": server, "owner_role": owner_role, "callback_url": callback_url}
    request_fingerprint = idempotency.fingerprint(OperationKind.CREATE_DATABASE, None, body)
    replayed = idempotency.replay(request_id, request_fingerprint)
    if replayed is not None:
        return replayed
    server_settings = server_named(server)
    username = owner_role or name
    for field, value in (("name", name), ("owner_role", username)):
        try:
            pgtools.validate_name(value, field)
        except InvalidNameError as error:
            raise Refused(422, str(error), field) from None
    live = db.session.scalars(
        select(Database).where(
            Database.server == server, Database.state.in_(DatabaseState.LIVE),
            (Database.name == name) | (Database.username == username),
        )
    ).first()
    if live is not None:
        raise Refused(409, f"database {live.name!r} (owner {live.username!r}) already exists on server {server!r}")
    database = Database(
        name=name, server=server, host=server_settings.host, port=server_settings.port, username=username,
        state=DatabaseState.CREATING,
    )
    db.session.add(database)
    db.session.flush()
    operation = Operation(
        kind=OperationKind.CREATE_DATABASE, database_id=database.id, callback_url=callback_url,
        request_id=request_id, request_fingerprint=request_fingerprint, params={},
    )
    db.session.add(operation)
    operation, created = idempotency.commit_new(operation, f"database {name!r} already exists on server {server!r}")
    if created:
        lifecycle.enqueue(operation, run_create)
    return operation


def request_delete(database_id: str, *, callback_url: str, request_id: str | None) -> Operation:
    """Record a delete_database operation and queue it; Refused while the database is busy or already gone."""
    require_allowed_callback(callback_url)
    request_fingerprint = idempotency.fingerprint(
        OperationKind.DELETE_DATABASE, database_id, {"callback_url": callback_url}
    )
    replayed = idempotency.replay(request_id, request_fingerprint)
    if replayed is not None:
        return replayed
    database = database_or_404(database_id)
    if database.state not in (DatabaseState.READY, DatabaseState.FAILED):
        raise Refused(409, f"database {database.name!r} is {database.state}; it can be deleted once ready or failed")
    refuse_if_busy(database)
    operation = Operation(
        kind=OperationKind.DELETE_DATABASE, database_id=database.id, callback_url=callback_url,
        request_id=request_id, request_fingerprint=request_fingerprint, params={"previous_state": database.state},
    )
    database.state = DatabaseState.DELETING
    db.session.add(operation)
    operation, created = idempotency.commit_new(operation, f"database {database.name!r} is being deleted")
    if created:
        lifecycle.enqueue(operation, run_delete)
    return operation


def run_create(operation_id: str) -> None:
    """RQ job: create the role and database of a create_database operation."""
    lifecycle.run(operation_id, _create)


def run_delete(operation_id: str) -> None:
    """RQ job: drop the database and role of a delete_database operation."""
    lifecycle.run(operation_id, _delete)


def _create(operation: Operation) -> dict[str, Any]:
    database = db.session.get_one(Database, operation.database_id)
    try:
        server = runtime_server(database.server)
        # pgtools would hand back a database it made earlier under this name (a re-run); a new database must be
        # empty, so one that is already there ends the operation. (Roles dbapi did not make are refused by pgtools.)
        if pgtools.database_exists(server, database.name):
            raise OperationFailed(f"database {database.name!r} already exists on server {server.name!r}")
        credentials = pgtools.create_role_and_database(server, database.name, database.username)
    except Exception:
        db.session.rollback()
        database.state = DatabaseState.FAILED
        db.session.commit()
        raise
    database.state = DatabaseState.READY
    db.session.commit()
    # The only place the password ever appears: the callback of this operation.
    return {"database": {**database_view(database), "password": credentials.password}}


def _delete(operation: Operation) -> dict[str, Any]:
    database = db.session.get_one(Database, operation.database_id)
    try:
        server = runtime_server(database.server)
        pgtools.drop_database(server, database.name, database.username)
    except Exception:
        db.session.rollback()
        # Still there (or partly): back to what it was, so it can be used or deleted again.
        database.state = operation.params.get("previous_state", DatabaseState.READY)
        db.session.commit()
        raise
    database.state = DatabaseState.DELETED
    database.deleted_at = utcnow()
    db.session.commit()
    return {"database": database_view(database)}


def database_or_404(database_id: str) -> Database:
    """The database with this id, or Refused(404)."""
    database = db.session.get(Database, database_id)
    if database is None:
        raise Refused(404, f"no database with id {database_id!r}")
    return database


def require_ready(database: Database) -> None:
    """Refused(409) unless `database` is ready."""
    if database.state != DatabaseState.READY:
        raise Refused(409, f"database {database.name!r} is {database.state}, not ready")


def refuse_if_busy(database: Database) -> None:
    """Refused(409) while another operation on `database` is pending or running."""
    busy = db.session.scalars(
        select(Operation).where(
            Operation.database_id == database.id,
            Operation.state.in_((OperationState.PENDING, OperationState.RUNNING)),
        )
    ).first()
    if busy is not None:
        raise Refused(409, f"operation {busy.id} ({busy.kind}) is {busy.state} on database {database.name!r}")


def server_named(name: str) -> PgServer:
    """The configured server called `name`, or Refused(422) naming the known ones."""
    servers = runtime().servers
    if name not in servers:
        known = ", ".join(sorted(servers)) or "none"
        raise Refused(422, f"unknown server {name!r} (known: {known})", "server")
    return servers[name]


def runtime_server(name: str) -> PgServer:
    """The configured server called `name` for a running job, or OperationFailed."""
    servers = runtime().servers
    if name not in servers:
        raise OperationFailed(f"server {name!r} is no longer configured in DBAPI_SERVERS")
    return servers[name]
