"""Creating a database for an app through the Databases API; the callback (app/operations/dbapi_results.py) sets
DATABASE_URL in the app's Deis config.

The host in DATABASE_URL is the DNS name of the cluster's PostgreSQL primary (a synced record pointing at the
instance whose db_role is primary), never an address: a failover only has to move that record.
"""
from __future__ import annotations

import re
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import audit
from app.models import App, Backup, Database, DnsRecord, Instance, Operation
from app.models.base import utcnow
from app.queries.databases import hand_set_database_url
from app.services.databases_api import DatabasesApi, DatabasesApiError

ADDRESS_RECORD_TYPES = ("A", "AAAA")


class ProvisioningRefused(ValueError):
    """A database cannot be created for this app now; the message says why and nothing was changed."""


def primary_host(session: Session, cluster_id: int) -> str | None:
    """The DNS name of the cluster's PostgreSQL primary: a synced A/AAAA record of the instance whose db_role is
    primary (names starting with 'primary' first, then the shortest), or None when the panel knows none."""
    names = session.scalars(
        select(DnsRecord.name).join(Instance, DnsRecord.instance_id == Instance.id)
        .where(Instance.cluster_id == cluster_id, Instance.db_role == "primary", Instance.role == "postgres",
               DnsRecord.type.in_(ADDRESS_RECORD_TYPES))
    ).all()
    if not names:
        return None
    return sorted(set(names), key=lambda name: (not name.startswith("primary"), len(name), name))[0]


def database_name_for(app: App) -> str:
    """A PostgreSQL identifier dbapi accepts, made from the app's name (`my-shop` -> `my_shop`)."""
    name = re.sub(r"[^a-z0-9_]", "_", app.name.lower())
    if not name or not name[0].isalpha() or name in ("postgres", "public") or name.startswith("pg_"):
        name = f"app_{name}"
    return name[:63]


def check_can_create(session: Session, app: App, *, replace: bool) -> str:
    """The primary's DNS name if a database may be created for `app`, else ProvisioningRefused saying why."""
    if app.database is not None and app.database.state != "failed":
        raise ProvisioningRefused(f"{app.name} already has database {app.database.name} ({app.database.state}).")
    by_hand = hand_set_database_url(app)
    if by_hand is not None and not replace:
        raise ProvisioningRefused(
            f"{app.name}'s DATABASE_URL was set by hand and points at {by_hand}; confirm replacing it"
            " (--replace, or type the app's name) to create a database for it.")
    host = primary_host(session, app.cluster_id)
    if host is None:
        raise ProvisioningRefused(
            f"Cluster {app.cluster.name} has no known PostgreSQL primary: no synced DNS record points at an instance"
            " whose db_role is primary. Sync AWS and DNS, or tag the primary.")
    return host


def create_database(session: Session, dbapi: DatabasesApi, app: App, *, server: str, actor: str | None,
                    replace: bool = False, name_prefix: str = "") -> Operation:
    """Ask dbapi for a database for `app` on `server`; the Operation (committed) follows it to the callback.

    Refusals raise ProvisioningRefused and change nothing; a refusal by dbapi itself ends the operation `failed`
    with dbapi's words and leaves the app's config untouched.
    """
    host = check_can_create(session, app, replace=replace)
    if app.database is not None:  # a failed earlier attempt: it no longer belongs to the app
        app.database.app_id = None
        session.flush()
    # A prefix keeps databases of several panels (or test sessions) on one server apart.
    name = (name_prefix + database_name_for(app))[:63]
    database = Database(app_id=app.id, cluster_id=app.cluster_id, name=name, username=name, host=host,
                        state="creating")
    session.add(database)
    try:
        session.flush()
    except IntegrityError as error:  # another request created one for this app a moment ago
        session.rollback()
        raise ProvisioningRefused(f"{app.name} already has a database (created meanwhile).") from error
    operation = Operation(kind="database.create", target_type="database", target_id=str(database.id),
                          target=f"{app.cluster.name}/{app.name}", state="pending", requested_by=actor,
                          progress_message=f"asking the Databases API for {name} on {server}")
    session.add(operation)
    audit.record(session, actor=actor or "system", action="database.create", target=app,
                 after={"database": name, "host": host, "server": server, "replace": replace,
                        "operation": operation.uuid})
    session.commit()
    return submit(session, operation, lambda: dbapi.create_database(name=name, server=server,
                                                                    request_id=operation.uuid))


def submit(session: Session, operation: Operation, call) -> Operation:
    """Send a committed operation's request to dbapi (its uuid is the request_id, so resending is harmless) and
    record dbapi's operation id; a refusal fails the operation with dbapi's words."""
    try:
        remote = call()
    except DatabasesApiError as error:
        fail(session, operation, error.reason)
        return operation
    operation.dbapi_operation_id = remote.id
    operation.state = "running"
    operation.started_at = utcnow()
    operation.progress_message = "waiting for the Databases API"
    session.commit()
    return operation


def fail(session: Session, operation: Operation, reason: str) -> None:
    """End `operation` failed with `reason`, and undo what it had reserved (a database row, a pending backup)."""

    operation.state = "failed"
    operation.error = reason
    operation.finished_at = utcnow()
    operation.progress_message = "failed"
    if operation.kind == "database.create":
        database = session.get(Database, int(operation.target_id or 0))
        if database is not None:
            database.state, database.app_id = "failed", None
    elif operation.kind == "database.backup":
        backup = session.get(Backup, int(operation.target_id or 0))
        if backup is not None:
            backup.state, backup.finished_at = "failed", utcnow()
    session.commit()
