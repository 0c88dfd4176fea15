"""Restore drills (`POST /backups/{id}/verify`): prove a backup restores, without touching any tenant database.

The backup is restored (decrypted, integrity-checked, pg_restore in one transaction, as a session role with the
owner's rights only) into a scratch database made for the drill; its tables and rows are counted as a session role
too (never the superuser: the archive is tenant content), and the scratch database and its role are dropped
whatever happened. A damaged backup fails the operation with the reason; the callback carries the figures.
"""
from __future__ import annotations

import secrets
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from dbapi import pgarchive
from dbapi.models import Backup, BackupState, Database, Operation, OperationKind, db
from dbapi.operations import idempotency, lifecycle
from dbapi.operations.backups import backup_or_404, verified_archive
from dbapi.operations.callback_targets import require_allowed_callback
from dbapi.operations.databases import runtime_server
from dbapi.operations.errors import Refused
from dbapi.operations.views import backup_view
from dbapi.pgtools import (
    CONNECT_TIMEOUT_SECONDS, ServerLike, create_role_and_database, create_session_role, drop_database,
    drop_session_role,
)

VERIFY = OperationKind.VERIFY
SCRATCH_PREFIX = "dbapi_drill_"


def request_verify(backup_id: str, *, callback_url: str, request_id: str | None) -> Operation:
    """Record a restore drill of a succeeded backup and queue it; Refused(409) unless the backup succeeded."""
    require_allowed_callback(callback_url)
    request_fingerprint = idempotency.fingerprint(VERIFY, backup_id, {"callback_url": callback_url})
    replayed = idempotency.replay(request_id, request_fingerprint)
    if replayed is not None:
        return replayed
    backup = backup_or_404(backup_id)
    if backup.state != BackupState.SUCCEEDED:
        raise Refused(409, f"backup {backup.id} is {backup.state}; only a succeeded backup can be verified")
    operation = Operation(
        kind=VERIFY, database_id=None, backup_id=backup.id, callback_url=callback_url, request_id=request_id,
        request_fingerprint=request_fingerprint, params={},
    )
    db.session.add(operation)
    operation, created = idempotency.commit_new(operation, "a verification with this request_id already exists")
    if created:
        lifecycle.enqueue(operation, run_verify)
    return operation


def run_verify(operation_id: str) -> None:
    """RQ job: restore a backup into a scratch database, count its tables and rows, drop it."""
    lifecycle.run(operation_id, _verify)


def _verify(operation: Operation) -> dict[str, Any]:
    backup = db.session.get_one(Backup, operation.backup_id)
    source = db.session.get_one(Database, backup.database_id)
    server = runtime_server(source.server)
    scratch = SCRATCH_PREFIX + secrets.token_hex(6)
    create_role_and_database(server, scratch, scratch)
    try:
        meter = lifecycle.ProgressMeter(operation)
        pgarchive.restore(server, scratch, meter.tap(verified_archive(backup)))
        tables, rows = _count(server, scratch)
    finally:
        drop_database(server, scratch, scratch)
    return {"backup": backup_view(backup), "verification": {"tables": tables, "rows": rows}}


def _count(server: ServerLike, dbname: str) -> tuple[int, int]:
    """Tables and rows of the restored database, read by a session role with the owner's rights only."""
    session = create_session_role(server, dbname)
    try:
        dsn = make_conninfo(server.dsn, user=session.name, password=session.password, dbname=dbname,
                            connect_timeout=str(CONNECT_TIMEOUT_SECONDS))
        with psycopg.connect(dsn) as connection:
            connection.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(session.owner)))
            tables = connection.execute(
                "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
                " AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1, 2"
            ).fetchall()
            rows = 0
            for schema, table in tables:
                (count,) = connection.execute(
                    sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
                ).fetchone()
                rows += int(count)
        return len(tables), rows
    finally:
        drop_session_role(server, session)
