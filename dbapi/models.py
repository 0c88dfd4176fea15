"""The Databases API's own state: databases it created, backups it holds, operations, and issued tokens.

This is dbapi's private database (SQLite under its data folder by default, `DBAPI_DATABASE_URL` overrides). The
panel keeps its own copy of the metadata it needs; it never reads these tables.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text, TypeDecorator, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the database keeps (SQLite keeps none)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused: pass an aware UTC datetime")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


def utcnow() -> datetime:
    """Now, as an aware UTC datetime."""
    return datetime.now(timezone.utc)


def new_id() -> str:
    """A fresh public identifier (UUID4 text)."""
    return str(uuid.uuid4())


class OperationState:
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    FINISHED = (SUCCEEDED, FAILED)


class OperationKind:
    CREATE_DATABASE = "create_database"
    DELETE_DATABASE = "delete_database"
    BACKUP = "backup"
    RESTORE = "restore"
    UPLOAD = "upload"
    VERIFY = "verify"  # a restore drill into a scratch database
    ALL = (CREATE_DATABASE, DELETE_DATABASE, BACKUP, RESTORE, UPLOAD, VERIFY)


class DatabaseState:
    CREATING = "creating"
    READY = "ready"
    DELETING = "deleting"
    DELETED = "deleted"
    FAILED = "failed"
    LIVE = (CREATING, READY, DELETING)


class BackupState:
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DELETED = "deleted"


class BackupKind:
    MANUAL = "manual"
    UPLOADED = "uploaded"


class CallbackState:
    PENDING = "pending"  # not delivered yet; the worker keeps trying
    DELIVERED = "delivered"
    ABANDONED = "abandoned"  # DBAPI_CALLBACK_MAX_SECONDS passed without a 2xx


class Database(db.Model):  # type: ignore[name-defined,misc]
    """A PostgreSQL database (and its owner role) that dbapi created on one of its servers."""

    __tablename__ = "databases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(63))
    server: Mapped[str] = mapped_column(String(63))
    host: Mapped[str] = mapped_column(String(255))  # what apps connect to, as configured when it was created
    port: Mapped[int] = mapped_column(Integer)
    username: Mapped[str] = mapped_column(String(63))
    state: Mapped[str] = mapped_column(String(16), default=DatabaseState.CREATING)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)

    __table_args__ = (
        # One live database per (server, name); deleted and failed rows stay for the record.
        Index(
            "uq_databases_live_name",
            "server",
            "name",
            unique=True,
            sqlite_where=text("state IN ('creating', 'ready', 'deleting')"),
            postgresql_where=text("state IN ('creating', 'ready', 'deleting')"),
        ),
    )


class Backup(db.Model):  # type: ignore[name-defined,misc]
    """One encrypted pg_dump archive on the storage backend, and what is known about it."""

    __tablename__ = "backups"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    database_id: Mapped[str] = mapped_column(ForeignKey("databases.id"))
    database_name: Mapped[str] = mapped_column(String(63))  # kept for file names after the database is gone
    kind: Mapped[str] = mapped_column(String(16), default=BackupKind.MANUAL)
    state: Mapped[str] = mapped_column(String(16), default=BackupState.PENDING)
    storage_key: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int | None] = mapped_column(Integer, default=None)  # the plain pg_dump archive
    stored_bytes: Mapped[int | None] = mapped_column(Integer, default=None)  # the encrypted object
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)  # of the plain pg_dump archive
    key_id: Mapped[str | None] = mapped_column(String(64), default=None)  # master key that wraps the data key
    progress_bytes: Mapped[int] = mapped_column(Integer, default=0)
    duration_seconds: Mapped[float | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class Operation(db.Model):  # type: ignore[name-defined,misc]
    """One asynchronous action: its state, progress, error, and the delivery of its callback."""

    __tablename__ = "operations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default=OperationState.PENDING)
    database_id: Mapped[str | None] = mapped_column(ForeignKey("databases.id"), default=None)
    backup_id: Mapped[str | None] = mapped_column(ForeignKey("backups.id"), default=None)
    request_id: Mapped[str | None] = mapped_column(String(255), unique=True, default=None)
    request_fingerprint: Mapped[str | None] = mapped_column(String(64), default=None)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # non-secret inputs the job needs
    progress_bytes: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    callback_url: Mapped[str | None] = mapped_column(Text, default=None)
    callback_state: Mapped[str | None] = mapped_column(String(16), default=None)
    callback_attempts: Mapped[int] = mapped_column(Integer, default=0)
    callback_last_error: Mapped[str | None] = mapped_column(Text, default=None)
    callback_first_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    callback_delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # The callback body, sealed with a key derived from the current master key: it may carry a new role's
    # password, which must not sit in clear at rest. Cleared once delivered or abandoned.
    callback_body_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)


class Token(db.Model):  # type: ignore[name-defined,misc]
    """An issued download/upload token: the record that makes upload tokens single-use, and the audit trail."""

    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    action: Mapped[str] = mapped_column(String(16))
    resource_kind: Mapped[str] = mapped_column(String(16))  # backup | database
    resource_id: Mapped[str] = mapped_column(String(36))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    use_count: Mapped[int] = mapped_column(Integer, default=0)
    callback_url: Mapped[str | None] = mapped_column(Text, default=None)
    operation_id: Mapped[str | None] = mapped_column(ForeignKey("operations.id"), default=None)
