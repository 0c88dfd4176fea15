"""Databases created for apps through the Databases API, and their backups (metadata only)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.platform import App, Cluster

BACKUP_KINDS = ("scheduled", "manual", "uploaded", "cloned")


class Database(Base):
    __tablename__ = "databases"

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int | None] = mapped_column(ForeignKey("apps.id", ondelete="SET NULL"), unique=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    username: Mapped[str] = mapped_column(String(63))
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(default=5432)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    dbapi_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    app: Mapped[App | None] = relationship(back_populates="database")
    cluster: Mapped[Cluster] = relationship()
    backups: Mapped[list[Backup]] = relationship(
        back_populates="database", order_by="Backup.started_at.desc()", foreign_keys="Backup.database_id"
    )


class Backup(Base):
    __tablename__ = "backups"
    __table_args__ = (Index("ix_backups_database_started", "database_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    database_id: Mapped[int] = mapped_column(ForeignKey("databases.id", ondelete="CASCADE"))
    dbapi_backup_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="manual")
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    cloned_from_id: Mapped[int | None] = mapped_column(ForeignKey("backups.id", ondelete="SET NULL"))
    retention_class: Mapped[str] = mapped_column(String(16), default="daily")
    requested_by: Mapped[str | None] = mapped_column(String(128))
    # The last restore drill: verified | failed (None: never drilled), when, and what the scratch restore held.
    verification: Mapped[str | None] = mapped_column(String(16))
    verified_at: Mapped[datetime | None]
    verified_tables: Mapped[int | None]
    verified_rows: Mapped[int | None] = mapped_column(BigInteger)
    verification_error: Mapped[str | None] = mapped_column(Text)

    database: Mapped[Database] = relationship(back_populates="backups", foreign_keys=[database_id])
    cloned_from: Mapped[Backup | None] = relationship(remote_side=[id])


class ScheduledBackupClaim(Base):
    """A nightly backup taken for one database on one local date of its region: the unique key makes concurrent
    dispatchers (or a rerun after a crash) enqueue it once."""

    __tablename__ = "scheduled_backup_claims"
    __table_args__ = (UniqueConstraint("database_id", "local_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    database_id: Mapped[int] = mapped_column(ForeignKey("databases.id", ondelete="CASCADE"))
    local_date: Mapped[date]
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    operation_uuid: Mapped[str | None] = mapped_column(String(36))


class BackupPolicy(Base):
    """How many backups rotation keeps for the databases of one cluster (no row: the defaults)."""

    __tablename__ = "backup_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"), unique=True)
    keep_daily: Mapped[int] = mapped_column(default=7)
    keep_weekly: Mapped[int] = mapped_column(default=4)
    keep_monthly: Mapped[int] = mapped_column(default=6)
    # Manual and uploaded backups are kept until someone deletes them, but never more than this many.
    manual_cap: Mapped[int] = mapped_column(default=20)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(128))

    cluster: Mapped[Cluster] = relationship()
