"""Download and upload tokens a developer presents to the Databases API directly (the panel never sees a backup's
contents), and the uploaded backup registered once dbapi's signed callback says the upload finished.

An upload is a panel Operation (`backup.upload`) from the moment its token is issued: its uuid rides on the callback
URL (`/dbapi/callbacks?upload=<uuid>`), and the callback claims it with a conditional UPDATE that also records dbapi's
operation id, so a replayed or duplicated callback finds it finished and registers nothing a second time.
"""
from __future__ import annotations

import logging
import uuid as uuid_module
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any


from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import audit
from app.models import Backup, Database, Operation
from app.models.base import utcnow
from app.operations.database_backups import BackupRefused, no_stored_object, not_at_dbapi, object_id
from app.services.databases_api import DatabasesApi, TransferToken

log = logging.getLogger("app.developer_transfers")

UPLOAD_KIND = "backup.upload"
FINISHED = ("succeeded", "failed")
# How an upload whose token expired unused ends; a callback that still comes (an upload started just before the
# expiry and finished after it) revives it, since dbapi's operation id is still unrecorded.
EXPIRED_UNUSED = "the upload token expired before anything was uploaded"
DEFAULT_TTL_SECONDS = 900


@dataclass(frozen=True)
class DownloadGrant:
    token: TransferToken
    size_bytes: int | None
    sha256: str | None


def grant_download(session: Session, dbapi: DatabasesApi, backup: Backup, *, actor: str,
                   ttl_seconds: int = DEFAULT_TTL_SECONDS) -> DownloadGrant:
    """A download token for a succeeded backup (a clone downloads its origin's object); audited, never the token."""
    identifier = object_id(backup)
    if backup.state != "succeeded":
        raise BackupRefused(f"Backup #{backup.id} is {backup.state}: only a succeeded backup can be downloaded.")
    if identifier is None:
        raise BackupRefused(no_stored_object(backup))
    token = dbapi.download_token(identifier, ttl_seconds=ttl_seconds)
    remote = dbapi.backup(identifier)
    audit.record(session, actor=actor, action="backup.download_token", target=backup.database,
                 after={"backup": backup.id, "expires_at": token.expires_at})
    session.commit()
    return DownloadGrant(token=token, size_bytes=remote.size_bytes, sha256=remote.sha256)


def grant_upload(session: Session, dbapi: DatabasesApi, database: Database, *, actor: str,
                 ttl_seconds: int = DEFAULT_TTL_SECONDS) -> tuple[TransferToken, Operation]:
    """A single-use upload token for a ready database and the Operation that follows the upload to its callback.

    Nothing is recorded when dbapi refuses (DatabasesApiError) or the database is not ready (BackupRefused).
    """
    if database.state != "ready":
        raise BackupRefused(f"Database {database.name} is {database.state}: only a ready database takes an upload.")
    if not database.dbapi_id:
        raise BackupRefused(not_at_dbapi(database))
    operation_uuid = str(uuid_module.uuid4())
    token = dbapi.upload_token(database.dbapi_id, ttl_seconds=ttl_seconds, callback_query=f"upload={operation_uuid}")
    label = f"{database.cluster.name}/{database.app.name if database.app else database.name}"
    operation = Operation(uuid=operation_uuid, kind=UPLOAD_KIND, target_type="database", target_id=str(database.id),
                          target=label, state="pending", requested_by=actor,
                          result={"token_id": token.token_id, "expires_at": token.expires_at},
                          progress_message="waiting for the upload to the Databases API")
    session.add(operation)
    audit.record(session, actor=actor, action="backup.upload_token", target=database,
                 after={"operation": operation_uuid, "expires_at": token.expires_at})
    session.commit()
    return token, operation


def register_upload(session: Session, payload: dict[str, Any], upload_uuid: str | None) -> tuple[int, str]:
    """Apply one (signature-checked) `upload` callback: the uploaded backup is registered once; (status, message)."""
    operation = session.scalars(select(Operation).where(Operation.uuid == (upload_uuid or "")[:36],
                                                        Operation.kind == UPLOAD_KIND)).first()
    if operation is None:
        # The operation is committed before its token is handed out, so no later delivery can find it either.
        log.warning("upload callback %s names no upload of this panel", str(payload.get("operation_id"))[:64])
        return 200, "no upload of the panel waits for this result"
    database = session.get(Database, int(operation.target_id or 0))
    remote_database = (payload.get("database") or {}).get("id")
    if database is None or database.dbapi_id is None or database.dbapi_id != remote_database:
        return 422, f"operation {operation.uuid} is an upload to another database"
    state = payload["state"]
    claimed = session.execute(
        update(Operation).where(Operation.id == operation.id, Operation.dbapi_operation_id.is_(None),
                                or_(Operation.state.not_in(FINISHED), Operation.error == EXPIRED_UNUSED))
        .values(state=state, dbapi_operation_id=str(payload["operation_id"])[:64], finished_at=utcnow(),
                progress=100 if state == "succeeded" else operation.progress)
    ).rowcount
    if claimed != 1:
        session.rollback()
        return 200, "already applied"
    session.refresh(operation)
    remote = payload.get("backup") or {}
    if state == "succeeded" and remote.get("id"):
        backup = Backup(database_id=database.id, dbapi_backup_id=str(remote["id"])[:64], kind="uploaded",
                        state="succeeded", size_bytes=remote.get("size_bytes"), finished_at=utcnow(),
                        retention_class="manual", requested_by=operation.requested_by)
        session.add(backup)
        try:
            session.flush()
        except IntegrityError:  # the object is registered already: nothing to add twice
            session.rollback()
            return 200, "already applied"
        operation.error = None
        operation.result = {**(operation.result or {}), "backup": backup.id}
        operation.progress_message = f"uploaded as backup #{backup.id}"
    else:
        operation.state = "failed"
        operation.error = str(payload.get("error") or "the upload failed without a reason")[:4000]
        operation.progress_message = "failed"
    session.commit()
    return 200, "applied"


def expire_unused_uploads(session: Session, now: datetime) -> int:
    """End `failed` every upload still waiting whose token has expired (no alert for a token nobody used)."""
    waiting = session.scalars(select(Operation).where(Operation.kind == UPLOAD_KIND, Operation.state == "pending",
                                                      Operation.dbapi_operation_id.is_(None))).all()
    expired = 0
    for operation in waiting:
        expires_at = _parse((operation.result or {}).get("expires_at"))
        if expires_at is not None and expires_at < now:
            operation.state, operation.error, operation.finished_at = "failed", EXPIRED_UNUSED, now
            operation.progress_message = "expired"
            expired += 1
    if expired:
        session.commit()
    return expired


def _parse(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
