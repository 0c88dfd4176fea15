"""Downloads and uploads that developers make directly with a token the panel negotiated.

A download streams the plain pg_dump custom-format archive: storage -> decrypt -> decompress -> the response. An
upload streams the request body in: PGDMP magic checked on the first bytes -> SHA-256 + size -> compress + encrypt
-> storage, then registers a backup of kind `uploaded` and calls back. Neither holds the archive in memory.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from dbapi import runtime, tokens
from dbapi.crypto import BackupIntegrityError
from dbapi.models import Backup, BackupKind, BackupState, Database, Operation, OperationKind, Token, db
from dbapi.operations import lifecycle
from dbapi.operations.callback_targets import require_allowed_callback
from dbapi.operations.backups import backup_or_404, new_backup, store_archive, verified_archive
from dbapi.operations.databases import database_or_404, refuse_if_busy, require_ready
from dbapi.operations.errors import OperationFailed, Refused
from dbapi.operations.views import backup_view, database_view

log = logging.getLogger("dbapi.transfers")

PGDMP_MAGIC = b"PGDMP"


class NotADump(OperationFailed):
    """The uploaded bytes are not a pg_dump custom-format archive."""


def require_downloadable(backup: Backup) -> None:
    """Refused(409) unless `backup` has succeeded (pending, running, failed and deleted ones have no archive)."""
    if backup.state != BackupState.SUCCEEDED:
        raise Refused(409, f"backup {backup.id} is {backup.state}; only a succeeded backup can be downloaded")


def download_name(backup: Backup) -> str:
    """The attachment file name of a backup's archive."""
    return f"{backup.database_name}-{backup.created_at:%Y%m%dT%H%M%SZ}-{backup.id[:8]}.dump"


def plain_archive(backup: Backup) -> Iterator[bytes]:
    """The backup's plain pg_dump archive, decrypted, decompressed and checked (``verified_archive``).

    Reads nothing from the dbapi database, so it can run after the request's session is gone. A missing object or
    one that belongs to another backup raises now (an error answer, not a 200 that breaks off); damage found later,
    or a SHA-256 that does not match the recorded one, cuts the response short (the client sees fewer bytes than
    Content-Length), never completed with bad data.
    """
    backup_id = backup.id
    plain = verified_archive(backup)

    def stream() -> Iterator[bytes]:
        try:
            yield from plain
        except BackupIntegrityError as error:
            log.error("download of backup %s cut short: %s", backup_id, error)
            raise

    return stream()


def check_upload_target(database: Database) -> None:
    """Refused(409) unless `database` can take an upload now (checked before the token is spent)."""
    require_ready(database)
    refuse_if_busy(database)


def receive_upload(database: Database, token: Token, body: Iterable[bytes]) -> tuple[Operation, BaseException | None]:
    """Store an uploaded archive as a new `uploaded` backup of `database` and schedule its callback.

    Returns the finished operation and the error that failed it (None on success).
    """
    backup = new_backup(database, BackupKind.UPLOADED)
    operation = Operation(
        kind=OperationKind.UPLOAD, database_id=database.id, backup_id=backup.id, callback_url=token.callback_url,
        params={"token_id": token.id},
    )
    db.session.add(operation)
    db.session.flush()
    token.operation_id = operation.id
    db.session.commit()
    outcome: dict[str, BaseException | None] = {"error": None}

    def work(running: Operation) -> dict[str, Any]:
        try:
            return _store_upload(running, body)
        except BaseException as error:
            outcome["error"] = error
            raise

    lifecycle.run(operation.id, work)
    return db.session.get_one(Operation, operation.id), outcome["error"]


def _store_upload(operation: Operation, body: Iterable[bytes]) -> dict[str, Any]:
    backup = db.session.get_one(Backup, operation.backup_id)
    database = db.session.get_one(Database, operation.database_id)
    store_archive(operation, backup, lambda: _require_dump(body))
    return {"backup": backup_view(backup), "database": database_view(database)}


def _require_dump(chunks: Iterable[bytes]) -> Iterator[bytes]:
    # Check the magic on the first bytes, before anything reaches storage; then pass everything through as is.
    head = b""
    iterator = iter(chunks)
    for chunk in iterator:
        head += chunk
        if len(head) >= len(PGDMP_MAGIC):
            break
    if not head.startswith(PGDMP_MAGIC):
        raise NotADump(
            "the upload is not a pg_dump custom-format archive (it must start with 'PGDMP'; make it with pg_dump -Fc)"
        )
    yield head
    yield from iterator


def grant_download(backup_id: str, *, ttl_seconds: int, base_url: str) -> dict[str, Any]:
    """Issue a download token for a succeeded backup (and commit): the token, its id, expiry, URL and method."""
    backup = backup_or_404(backup_id)
    require_downloadable(backup)
    return _grant(tokens.DOWNLOAD, backup.id, ttl_seconds, None, f"{base_url.rstrip('/')}/backups/{backup.id}/download")


def grant_upload(database_id: str, *, ttl_seconds: int, callback_url: str | None, base_url: str) -> dict[str, Any]:
    """Issue a single-use upload token for a ready database (and commit); its result goes to `callback_url`."""
    require_allowed_callback(callback_url)
    database = database_or_404(database_id)
    check_upload_target(database)
    return _grant(
        tokens.UPLOAD, database.id, ttl_seconds, callback_url, f"{base_url.rstrip('/')}/databases/{database.id}/uploads"
    )


def _grant(action: str, resource_id: str, ttl_seconds: int, callback_url: str | None, url: str) -> dict[str, Any]:
    issued = tokens.issue(
        db.session, runtime().settings.token_secret, action=action, resource_id=resource_id,
        ttl_seconds=ttl_seconds, callback_url=callback_url,
    )
    db.session.commit()
    return {
        "token": issued.token,
        "token_id": issued.token_id,
        "expires_at": issued.expires_at,
        "url": url,
        "method": "GET" if action == tokens.DOWNLOAD else "PUT",
    }
