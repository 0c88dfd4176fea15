"""Backups of the apps' databases through the Databases API: capture, restore, clone to another app, verify (a
restore drill), delete. The panel keeps metadata only; dbapi alone can read a backup's contents.

A clone is a panel row for the target app's database that names the same backup object as its origin (dbapi has no
"register" call and needs none: any succeeded backup restores into any ready database). The object is deleted from
dbapi's storage only when the last row naming it (origin or clone) is deleted.
"""
from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app import audit
from app.models import App, Backup, Database, Operation
from app.models.base import utcnow
from app.operations.database_provisioning import fail, submit
from app.services.databases_api import DatabasesApi, DatabasesApiError


class BackupRefused(ValueError):
    """The backup action cannot run now; the message says why and nothing was changed."""


def object_id(backup: Backup) -> str | None:
    """dbapi's id of the object this row names (a clone names its origin's)."""
    origin = backup.cloned_from if backup.kind == "cloned" and backup.cloned_from is not None else backup
    return origin.dbapi_backup_id


# A ready database or succeeded backup the Databases API has no id for (a row from before it, or made by hand):
# saying "ready: only a ready database..." would contradict itself, so the refusal names what is missing.
def not_at_dbapi(database: Database) -> str:
    return f"Database {database.name} has no id at the Databases API, so nothing can be done with it there."


def no_stored_object(backup: Backup) -> str:
    return f"Backup #{backup.id} has no stored object at the Databases API, so it cannot be used."


def _label(database: Database) -> str:
    return f"{database.cluster.name}/{database.app.name if database.app else database.name}"


def _require_ready(database: Database) -> None:
    if database.state != "ready":
        raise BackupRefused(f"Database {database.name} is {database.state}: only a ready database can do that.")
    if not database.dbapi_id:
        raise BackupRefused(not_at_dbapi(database))


def _require_restorable(backup: Backup) -> str:
    identifier = object_id(backup)
    if backup.state != "succeeded":
        raise BackupRefused(f"Backup #{backup.id} is {backup.state}: only a succeeded backup can be restored,"
                            " cloned or verified.")
    if identifier is None:
        raise BackupRefused(no_stored_object(backup))
    return identifier


def capture(session: Session, dbapi: DatabasesApi, database: Database, *, kind: str = "manual",
            actor: str | None) -> Operation:
    """Start a backup of `database` (kind manual | scheduled); audited; the callback records its size and state."""
    _require_ready(database)
    if kind not in ("manual", "scheduled"):
        raise BackupRefused(f"A captured backup is manual or scheduled, not {kind!r}.")
    backup = Backup(database_id=database.id, kind=kind, state="pending", requested_by=actor,
                    retention_class="daily" if kind == "scheduled" else "manual")
    session.add(backup)
    session.flush()
    operation = Operation(kind="database.backup", target_type="backup", target_id=str(backup.id),
                          target=_label(database), state="pending", requested_by=actor,
                          progress_message="asking the Databases API for a backup")
    session.add(operation)
    audit.record(session, actor=actor or "system", action="backup.capture", target=database,
                 after={"backup": backup.id, "kind": kind, "operation": operation.uuid})
    session.commit()
    remote_backup: list[str | None] = []

    def request():
        remote = dbapi.capture_backup(database.dbapi_id or "", request_id=operation.uuid)
        remote_backup.append(remote.backup_id)
        return remote

    submit(session, operation, request)
    if remote_backup:
        backup.dbapi_backup_id = remote_backup[0]
        backup.state = "running" if backup.state == "pending" else backup.state
        session.commit()
    return operation


def restore(session: Session, dbapi: DatabasesApi, backup: Backup, *, actor: str | None,
            into: Database | None = None) -> Operation:
    """Restore `backup` into its own database (or `into`); refused unless the backup succeeded; audited."""
    identifier = _require_restorable(backup)
    database = into or backup.database
    _require_ready(database)
    operation = Operation(kind="database.restore", target_type="database", target_id=str(database.id),
                          target=_label(database), state="pending", requested_by=actor,
                          result={"backup": backup.id}, progress_message=f"restoring backup #{backup.id}")
    session.add(operation)
    audit.record(session, actor=actor or "system", action="backup.restore", target=database,
                 after={"backup": backup.id, "kind": backup.kind, "operation": operation.uuid})
    session.commit()
    return submit(session, operation,
                  lambda: dbapi.restore(database.dbapi_id or "", backup_id=identifier, request_id=operation.uuid))


def clone(session: Session, backup: Backup, target: App, *, actor: str | None) -> Backup:
    """Register `backup`'s object for `target`'s database (a `cloned` row); restoring it there is one more step."""
    _require_restorable(backup)
    database = target.database
    if database is None or database.state != "ready":
        raise BackupRefused(f"{target.name} has no ready database: create one first, then clone the backup to it.")
    if database.id == backup.database_id:
        raise BackupRefused(f"Backup #{backup.id} already belongs to {target.name}'s database.")
    origin = backup.cloned_from if backup.kind == "cloned" and backup.cloned_from is not None else backup
    cloned = Backup(database_id=database.id, kind="cloned", state="succeeded", size_bytes=origin.size_bytes,
                    started_at=utcnow(), finished_at=utcnow(), cloned_from_id=origin.id, retention_class="manual",
                    requested_by=actor)
    session.add(cloned)
    session.flush()
    audit.record(session, actor=actor or "system", action="backup.clone", target=target,
                 after={"backup": cloned.id, "cloned_from": origin.id})
    session.commit()
    return cloned


def verify(session: Session, dbapi: DatabasesApi, backup: Backup, *, actor: str | None) -> Operation:
    """A restore drill (`POST /backups/{id}/verify`): dbapi restores the backup into a scratch database, counts
    tables and rows and drops it; the callback records the figures on the operation."""
    identifier = _require_restorable(backup)
    operation = Operation(kind="backup.verify", target_type="backup", target_id=str(backup.id),
                          target=_label(backup.database), state="pending", requested_by=actor,
                          progress_message="restore drill requested")
    session.add(operation)
    audit.record(session, actor=actor or "system", action="backup.verify", target=backup.database,
                 after={"backup": backup.id, "operation": operation.uuid})
    session.commit()
    return submit(session, operation, lambda: dbapi.verify_backup(identifier, request_id=operation.uuid))


def delete_backup(session: Session, dbapi: DatabasesApi, backup: Backup, *, actor: str | None) -> Operation:
    """Delete a backup row; its object goes from dbapi's storage once no other row (origin or clone) names it.

    Returns a finished Operation: succeeded, or failed with dbapi's words (the row is then kept).
    """
    operation = Operation(kind="backup.delete", target_type="backup", target_id=str(backup.id),
                          target=_label(backup.database), state="running", requested_by=actor,
                          started_at=utcnow())
    session.add(operation)
    audit.record(session, actor=actor or "system", action="backup.delete", target=backup.database,
                 before={"backup": backup.id, "kind": backup.kind, "state": backup.state})
    session.commit()
    if backup.state == "deleted":
        return _finished(session, operation, "already deleted")
    if backup.state in ("pending", "running"):
        fail(session, operation, f"Backup #{backup.id} is still being written; delete it once it has finished.")
        return operation
    origin = backup.cloned_from if backup.kind == "cloned" and backup.cloned_from is not None else backup
    identifier = origin.dbapi_backup_id
    others = session.scalar(
        select(Backup.id).where(Backup.id != backup.id, Backup.state != "deleted",
                                or_(Backup.id == origin.id, Backup.cloned_from_id == origin.id)).limit(1)
    )
    if identifier is not None and others is None:
        try:
            dbapi.delete_backup(identifier)
        except DatabasesApiError as error:
            fail(session, operation, error.reason)
            return operation
    backup.state = "deleted"
    return _finished(session, operation, "deleted" if others is None else "deleted (its object is kept: a clone"
                     " still names it)")


def _finished(session: Session, operation: Operation, message: str) -> Operation:
    operation.state, operation.finished_at, operation.progress = "succeeded", utcnow(), 100
    operation.progress_message = message
    session.commit()
    return operation
