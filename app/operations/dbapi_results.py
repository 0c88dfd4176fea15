"""The results dbapi POSTs back to `/dbapi/callbacks`: check the signature, apply each operation's result exactly once.

Exactly once: the Operation row is claimed with a conditional UPDATE (`state` still unfinished) keyed on dbapi's
`operation_id`; a replayed callback, a second delivery after a lost acknowledgement or a late contradicting one finds
the operation finished and changes nothing. The claim, the rows it updates and (for a new database) the Deis config
write share one transaction: if any part fails the callback is refused with a 5xx and dbapi delivers it again.

The new role's password exists only in the `create_database` callback, so DATABASE_URL is written to the app's Deis
config before the callback is acknowledged (a failed write answers 503 and dbapi redelivers the same password);
the password is never stored in the panel's database nor logged.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.clients import NotConfigured
from app.models import App, Backup, Database, Operation
from app.models.base import utcnow
from app.operations import developer_transfers, restore_drills
from app.services.databases_api import verify_signature
from app.services.deis import DeisAppGone, DeisClient, DeisError

log = logging.getLogger("app.dbapi_results")

FINISHED = ("succeeded", "failed")
# The panel's operation kinds and the dbapi operation kind each one waits for.
DBAPI_KIND = {
    "database.create": "create_database",
    "database.backup": "backup",
    "database.restore": "restore",
    "backup.verify": "verify",
    "backup.upload": "upload",
}


@dataclass(frozen=True)
class CallbackOutcome:
    """What the receiver answers: an HTTP status and a short message (never a secret)."""

    status: int
    message: str


def database_url(database: Database, password: str) -> str:
    """postgres://user:password@<DNS name of the primary>:port/name (user and password quoted for a URL)."""
    return (f"postgres://{quote(database.username, safe='')}:{quote(password, safe='')}@{database.host}:"
            f"{database.port}/{database.name}")


def receive(session: Session, deis: Callable[[str], DeisClient], *, secret: str, signature: str | None,
            raw_body: bytes, after_database_ready: Callable[[Database], None] | None = None,
            after_backup: Callable[[Database], None] | None = None,
            upload: str | None = None) -> CallbackOutcome:
    """Check one callback's signature over its raw bytes, then apply its result once; the outcome says how it went.

    `deis(cluster_name)` gives the controller client of a cluster; `after_database_ready` runs after the commit of a
    new database (the targeted sync of its app), `after_backup` after the commit of a successful backup (rotation).
    `upload` is the `upload` query parameter of the callback URL: the uuid of the panel's upload operation (dbapi's
    operation id is unknown to the panel until this very callback).
    """
    if not signature or not verify_signature([secret], signature, raw_body):
        return CallbackOutcome(401, "bad or missing X-Signature (or older than 300 s)")
    try:
        payload = json.loads(raw_body)
        operation_id = str(payload["operation_id"])
        state = payload["state"]
    except (ValueError, KeyError, TypeError):
        return CallbackOutcome(400, "the body is not a dbapi callback")
    if state not in FINISHED:
        return CallbackOutcome(400, f"state {str(state)[:20]!r} is not a finished state")
    operation = session.query(Operation).filter_by(dbapi_operation_id=operation_id).one_or_none()
    if operation is None and payload.get("kind") == "upload":
        return CallbackOutcome(*developer_transfers.register_upload(session, payload, upload))
    if operation is None:
        # The request's answer may not be committed yet: a 409 makes dbapi try again a little later.
        return CallbackOutcome(409, "no operation of the panel has this operation_id (yet)")
    if operation.state in FINISHED:
        return CallbackOutcome(200, "already applied")
    if DBAPI_KIND.get(operation.kind) != payload.get("kind"):
        return CallbackOutcome(422, f"operation {operation.uuid} is a {operation.kind}, not a {payload.get('kind')}")
    claimed = session.execute(
        update(Operation).where(Operation.id == operation.id, Operation.state.not_in(FINISHED))
        .values(state=state, finished_at=utcnow(), progress=100 if state == "succeeded" else operation.progress)
    ).rowcount
    if claimed != 1:
        session.rollback()
        return CallbackOutcome(200, "already applied")
    session.refresh(operation)
    try:
        ready = _apply(session, deis, operation, payload)
    except DeisAppGone as error:
        # The app was deleted from Deis while its database was being made: no retry can set DATABASE_URL. The
        # database stays, ready and visible, for an admin to attach elsewhere or drop; the operation ends failed.
        operation.state = "failed"
        operation.error = (f"the database is ready, but {operation.target} no longer exists in Deis, so DATABASE_URL"
                           f" was not set ({error.reason})")[:2000]
        session.commit()
        log.warning("callback of operation %s: the app is gone: %s", operation.uuid, error)
        return CallbackOutcome(200, "applied; the app no longer exists, DATABASE_URL not set")
    except DeisError as error:
        session.rollback()
        log.warning("callback of operation %s not applied: %s", operation.uuid, error)
        # Not finished: dbapi delivers the same result again; meanwhile the page says what is in the way.
        session.execute(update(Operation).where(Operation.id == operation.id, Operation.state.not_in(FINISHED))
                        .values(progress_message=f"database ready; setting DATABASE_URL failed, dbapi will retry:"
                                                 f" {error.reason}"[:255]))
        session.commit()
        return CallbackOutcome(503, f"could not set DATABASE_URL yet: {error.reason}")
    session.commit()
    if ready is not None and after_database_ready is not None:
        after_database_ready(ready)
    if operation.kind == "database.backup" and state == "succeeded" and after_backup is not None:
        backup = session.get(Backup, int(operation.target_id or 0))
        if backup is not None:
            after_backup(backup.database)
    return CallbackOutcome(200, "applied")


def _apply(session: Session, deis: Callable[[str], DeisClient], operation: Operation,
           payload: dict[str, Any]) -> Database | None:
    succeeded = payload["state"] == "succeeded"
    error = payload.get("error")
    operation.error = None if succeeded else str(error or "dbapi reported a failure without a reason")[:4000]
    operation.progress_message = "done" if succeeded else "failed"
    if operation.kind == "database.create":
        return _database_created(session, deis, operation, payload, succeeded)
    if operation.kind == "database.backup":
        backup = session.get(Backup, int(operation.target_id or 0))
        remote = payload.get("backup") or {}
        if backup is not None:
            backup.state = "succeeded" if succeeded else "failed"
            backup.size_bytes = remote.get("size_bytes") if succeeded else backup.size_bytes
            backup.finished_at = utcnow()
    elif operation.kind == "backup.verify":
        _drilled(session, operation, payload, succeeded)
    return None


def _drilled(session: Session, operation: Operation, payload: dict[str, Any], succeeded: bool) -> None:
    """Record a restore drill on its backup; a failed drill raises an alert, a good one resolves it."""
    figures = payload.get("verification") or {}
    operation.result = {**(operation.result or {}), "verification": figures}
    backup = session.get(Backup, int(operation.target_id or 0))
    if backup is None:
        return
    now = utcnow()
    backup.verification = "verified" if succeeded else "failed"
    backup.verified_at = now
    backup.verified_tables = figures.get("tables") if succeeded else None
    backup.verified_rows = figures.get("rows") if succeeded else None
    backup.verification_error = None if succeeded else operation.error
    # One alert per database for drills, whoever started the drill (the weekly schedule or an operator).
    if succeeded:
        restore_drills.drill_passed(session, backup, now=now)
    else:
        restore_drills.drill_failed(session, backup, operation.error or "no reason given", now=now)


def _database_created(session: Session, deis: Callable[[str], DeisClient], operation: Operation,
                      payload: dict[str, Any], succeeded: bool) -> Database | None:
    database = session.get(Database, int(operation.target_id or 0))
    if database is None:
        return None
    remote = payload.get("database") or {}
    if not succeeded or not remote.get("password"):
        database.state = "failed"
        database.app_id = None  # a failed database does not count as the app's: it may try again
        if succeeded:
            operation.state, operation.error = "failed", "dbapi's callback carried no password"
        return None
    database.dbapi_id = remote.get("id")
    database.username = remote.get("username") or database.username
    database.port = int(remote.get("port") or database.port)
    database.state = "ready"
    app = session.get(App, database.app_id) if database.app_id else None
    if app is not None:
        # The host stays the DNS name of the cluster's primary chosen at request time, never dbapi's own address.
        try:
            controller = deis(app.cluster.name)
        except NotConfigured as error:  # the cluster left DEIS_CLUSTERS: keep the result for a later delivery
            raise DeisError(app.cluster.name, "set config", str(error)) from error
        controller.set_config(app.name, {"DATABASE_URL": database_url(database, remote["password"])})
        operation.progress_message = f"DATABASE_URL set for {app.name}"
    return database
