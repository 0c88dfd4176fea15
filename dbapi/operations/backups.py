"""Backups: pg_dump -> SHA-256 + size -> compress + encrypt -> storage, streaming; and deleting them.

Nothing is ever held whole in memory: the dump flows through generators chunk by chunk into the storage backend.
A failed backup leaves no object behind (the partial object is deleted) and is marked failed with the reason.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy import select

from dbapi import pgarchive, runtime
from dbapi.crypto import BackupIntegrityError, Digest, decrypt_stream, encrypt_stream
from dbapi.models import (
    Backup, BackupKind, BackupState, Database, Operation, OperationKind, OperationState, db, new_id,
    utcnow,
)
from dbapi.operations import idempotency, lifecycle
from dbapi.operations.callback_targets import require_allowed_callback
from dbapi.operations.databases import database_or_404, require_ready, runtime_server
from dbapi.operations.errors import Refused
from dbapi.operations.views import backup_view, database_view

log = logging.getLogger("dbapi.backups")


def storage_key(backup: Backup) -> str:
    """Where a backup's encrypted object lives in the storage backend."""
    return f"backups/{backup.database_id}/{backup.id}.dbapi"


def new_backup(database: Database, kind: str) -> Backup:
    """A pending backup row of `database` (added to the session, not committed)."""
    backup = Backup(
        id=new_id(), database_id=database.id, database_name=database.name, kind=kind, state=BackupState.PENDING
    )
    backup.storage_key = storage_key(backup)
    db.session.add(backup)
    return backup


def request_backup(database_id: str, *, callback_url: str, request_id: str | None) -> Operation:
    """Record a backup operation of a ready database and queue it."""
    require_allowed_callback(callback_url)
    request_fingerprint = idempotency.fingerprint(OperationKind.BACKUP, database_id, {"callback_url": callback_url})
    replayed = idempotency.replay(request_id, request_fingerprint)
    if replayed is not None:
        return replayed
    database = database_or_404(database_id)
    require_ready(database)
    backup = new_backup(database, BackupKind.MANUAL)
    operation = Operation(
        kind=OperationKind.BACKUP, database_id=database.id, backup_id=backup.id, callback_url=callback_url,
        request_id=request_id, request_fingerprint=request_fingerprint, params={},
    )
    db.session.add(operation)
    operation, created = idempotency.commit_new(operation, "a backup with this request_id already exists")
    if created:
        lifecycle.enqueue(operation, run_backup)
    return operation


def run_backup(operation_id: str) -> None:
    """RQ job: dump, digest, encrypt and store the backup of a backup operation."""
    lifecycle.run(operation_id, _backup)


def _backup(operation: Operation) -> dict[str, Any]:
    backup = db.session.get_one(Backup, operation.backup_id)
    database = db.session.get_one(Database, operation.database_id)
    store_archive(operation, backup, lambda: pgarchive.dump(runtime_server(database.server), database.name))
    return {"backup": backup_view(backup), "database": database_view(database)}


def store_archive(operation: Operation, backup: Backup, open_source: Callable[[], Iterable[bytes]]) -> None:
    """Stream the plain archive from `open_source()` through digest, compression and encryption into storage
    as `backup`; on any failure delete the partial object, mark the backup failed and re-raise."""
    context = runtime()
    keys = context.settings.master_keys
    backup.state = BackupState.RUNNING
    backup.started_at = utcnow()
    db.session.commit()
    started = time.monotonic()
    digest = Digest()
    meter = lifecycle.ProgressMeter(operation, backup)
    source: Iterable[bytes] | None = None
    try:
        source = open_source()
        plain = digest.tap(meter.tap(source))
        stored_bytes = context.storage.write(backup.storage_key, encrypt_stream(plain, keys, backup_id=backup.id))
    except Exception as error:
        abandon(backup, error)
        raise
    finally:
        # Stop the producer (pg_dump) now if it is still running, not whenever it is garbage collected.
        close = getattr(source, "close", None)
        if close is not None:
            close()
    backup.size_bytes = digest.size
    backup.sha256 = digest.hexdigest
    backup.stored_bytes = stored_bytes
    backup.key_id = keys.current_id
    backup.duration_seconds = round(time.monotonic() - started, 3)
    backup.state = BackupState.SUCCEEDED
    backup.finished_at = utcnow()
    db.session.commit()
    log.info("backup %s (%s) of database %s: %d bytes, stored %d, in %.1fs", backup.id, backup.kind,
             backup.database_name, digest.size, stored_bytes, backup.duration_seconds)


def verified_archive(backup: Backup) -> Iterator[bytes]:
    """The plain archive of a succeeded backup: its object decrypted under its own id, and at the end checked
    against the recorded SHA-256 and size; otherwise ``BackupIntegrityError``.

    The object is opened and its first chunk authenticated now, so an object that belongs to another backup (two
    objects swapped in storage), or a one-chunk archive that does not match, fails before anything reaches a client
    or pg_restore. The last chunk is held back
    until the digest matched: a consumer never gets the whole archive of a mismatch (a download is cut short, a
    restore is killed before it can commit). Reads nothing from dbapi's database afterwards.
    """
    context = runtime()
    backup_id, expected_sha256, expected_size = backup.id, backup.sha256, backup.size_bytes
    plain = decrypt_stream(context.storage.read(backup.storage_key), context.settings.master_keys, backup_id=backup_id)
    first = next(plain, None)

    def checked() -> Iterator[bytes]:
        digest = Digest()
        held = first
        for chunk in plain:
            if held is not None:
                digest.update(held)
                yield held
            held = chunk
        if held is not None:
            digest.update(held)
        if digest.hexdigest != expected_sha256 or digest.size != expected_size:
            raise BackupIntegrityError(
                f"backup {backup_id} failed its integrity check: the decrypted archive has SHA-256 "
                f"{digest.hexdigest} and {digest.size} bytes, but the backup recorded {expected_sha256} and "
                f"{expected_size} bytes; the stored object is not this backup's archive"
            )
        if held is not None:
            yield held

    # Run up to the first chunk handed out now, too: an archive of one chunk is checked whole before a response
    # (or pg_restore) starts.
    output = checked()
    head = next(output, None)

    def prefetched() -> Iterator[bytes]:
        if head is not None:
            yield head
        yield from output

    return prefetched()


def abandon(backup: Backup, error: BaseException) -> None:
    """Mark a backup failed because of `error` and delete whatever part of its object reached storage."""
    db.session.rollback()
    try:
        runtime().storage.delete(backup.storage_key)
    except Exception as cleanup_error:  # the original error matters more; say that cleanup failed too
        log.error("backup %s: could not delete the partial object %s: %s", backup.id, backup.storage_key,
                  lifecycle.describe(cleanup_error))
    backup.state = BackupState.FAILED
    backup.error = lifecycle.failure_message(error)
    backup.finished_at = utcnow()
    db.session.commit()


def delete_backup(backup_id: str) -> Backup:
    """Delete a backup's object from storage now and mark it deleted; Refused(409) while it is being written."""
    backup = backup_or_404(backup_id)
    if backup.state in (BackupState.PENDING, BackupState.RUNNING):
        raise Refused(409, f"backup {backup.id} is {backup.state}; delete it once it has finished")
    if backup.state == BackupState.DELETED:
        return backup
    reader = db.session.scalars(
        select(Operation).where(
            Operation.backup_id == backup.id, Operation.state.in_((OperationState.PENDING, OperationState.RUNNING))
        )
    ).first()
    if reader is not None:
        raise Refused(409, f"operation {reader.id} ({reader.kind}) is using backup {backup.id}; delete it afterwards")
    runtime().storage.delete(backup.storage_key)
    backup.state = BackupState.DELETED
    backup.deleted_at = utcnow()
    db.session.commit()
    log.info("backup %s deleted (object %s)", backup.id, backup.storage_key)
    return backup


def backup_or_404(backup_id: str) -> Backup:
    """The backup with this id, or Refused(404)."""
    backup = db.session.get(Backup, backup_id)
    if backup is None:
        raise Refused(404, f"no backup with id {backup_id!r}")
    return backup
