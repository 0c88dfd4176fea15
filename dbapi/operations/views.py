"""Public views of dbapi's records: the dicts that GET answers and callbacks carry (never a password)."""
from __future__ import annotations

from typing import Any

from dbapi.models import Backup, Database, Operation


def database_view(database: Database) -> dict[str, Any]:
    """A database as the API shows it."""
    return {
        "id": database.id,
        "name": database.name,
        "server": database.server,
        "host": database.host,
        "port": database.port,
        "username": database.username,
        "state": database.state,
        "created_at": database.created_at,
        "deleted_at": database.deleted_at,
    }


def backup_view(backup: Backup) -> dict[str, Any]:
    """A backup as the API shows it."""
    return {
        "id": backup.id,
        "database_id": backup.database_id,
        "database_name": backup.database_name,
        "kind": backup.kind,
        "state": backup.state,
        "size_bytes": backup.size_bytes,
        "stored_bytes": backup.stored_bytes,
        "sha256": backup.sha256,
        "key_id": backup.key_id,
        "progress_bytes": backup.progress_bytes,
        "duration_seconds": backup.duration_seconds,
        "error": backup.error,
        "created_at": backup.created_at,
        "started_at": backup.started_at,
        "finished_at": backup.finished_at,
        "deleted_at": backup.deleted_at,
    }


def operation_view(operation: Operation) -> dict[str, Any]:
    """An operation as the API shows it, with the state of its callback."""
    return {
        "id": operation.id,
        "kind": operation.kind,
        "state": operation.state,
        "database_id": operation.database_id,
        "backup_id": operation.backup_id,
        "request_id": operation.request_id,
        "progress_bytes": operation.progress_bytes,
        "error": operation.error,
        "created_at": operation.created_at,
        "started_at": operation.started_at,
        "finished_at": operation.finished_at,
        "callback": {
            "url": operation.callback_url,
            "state": operation.callback_state,
            "attempts": operation.callback_attempts,
            "last_error": operation.callback_last_error,
            "delivered_at": operation.callback_delivered_at,
        },
    }
