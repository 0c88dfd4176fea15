"""Restores: storage -> decrypt + decompress -> pg_restore into a database, streaming.

Any succeeded backup may be restored into any ready database: that is how a backup is "cloned" to another app.
A tampered or truncated object fails authentication part-way, an object of another backup fails at once, an archive
whose SHA-256 differs from the recorded one fails before its last chunk; pg_restore runs in a single transaction,
so the target is left as it was and the operation fails loudly.
"""
from __future__ import annotations

from typing import Any

from dbapi import pgarchive
from dbapi.models import Backup, BackupState, Database, Operation, OperationKind, db
from dbapi.operations import idempotency, lifecycle
from dbapi.operations.callback_targets import require_allowed_callback
from dbapi.operations.backups import backup_or_404, verified_archive
from dbapi.operations.databases import database_or_404, refuse_if_busy, require_ready, runtime_server
from dbapi.operations.errors import Refused
from dbapi.operations.views import backup_view, database_view


def request_restore(database_id: str, *, backup_id: str, callback_url: str, request_id: str | None) -> Operation:
    """Record a restore of `backup_id` into `database_id` and queue it; Refused(409) unless the backup succeeded."""
    require_allowed_callback(callback_url)
    request_fingerprint = idempotency.fingerprint(
        OperationKind.RESTORE, database_id, {"backup_id": backup_id, "callback_url": callback_url}
    )
    replayed = idempotency.replay(request_id, request_fingerprint)
    if replayed is not None:
        return replayed
    database = database_or_404(database_id)
    backup = backup_or_404(backup_id)
    if backup.state != BackupState.SUCCEEDED:
        raise Refused(409, f"backup {backup.id} is {backup.state}; only a succeeded backup can be restored")
    require_ready(database)
    refuse_if_busy(database)
    operation = Operation(
        kind=OperationKind.RESTORE, database_id=database.id, backup_id=backup.id, callback_url=callback_url,
        request_id=request_id, request_fingerprint=request_fingerprint, params={},
    )
    db.session.add(operation)
    operation, created = idempotency.commit_new(operation, "a restore with this request_id already exists")
    if created:
        lifecycle.enqueue(operation, run_restore)
    return operation


def run_restore(operation_id: str) -> None:
    """RQ job: stream a backup out of storage, decrypt it, and pg_restore it into the target database."""
    lifecycle.run(operation_id, _restore)


def _restore(operation: Operation) -> dict[str, Any]:
    backup = db.session.get_one(Backup, operation.backup_id)
    database = db.session.get_one(Database, operation.database_id)
    server = runtime_server(database.server)
    meter = lifecycle.ProgressMeter(operation)
    plain = meter.tap(verified_archive(backup))
    pgarchive.restore(server, database.name, plain)
    return {"database": database_view(database), "backup": backup_view(backup)}
