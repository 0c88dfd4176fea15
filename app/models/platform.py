"""Regions, Deis clusters and what runs on them: apps, domains, certificates and the desired limit sets."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Computed, ForeignKey, Index, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, trigram_index, utcnow

if TYPE_CHECKING:
    from app.models.databases import Database

CLUSTER_KINDS = ("production", "staging", "monitoring")
# Where a certificate without a known expiry sorts: after every real one. Every real expiry is before
# KNOWN_EXPIRY_BEFORE and the generated one after it, whatever time zone PostgreSQL read the literal in.
NO_EXPIRY_TEXT = "9999-12-31 00:00:00.000000"
KNOWN_EXPIRY_BEFORE = datetime(9999, 12, 30, tzinfo=timezone.utc)
log = logging.getLogger(__name__)


class Region(Base):
    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    aws_region: Mapped[str] = mapped_column(String(32), index=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    backup_hour: Mapped[int] = mapped_column(default=3)
    # Minutes past `backup_hour` (local time) the nightly backups start.
    backup_minute: Mapped[int] = mapped_column(default=0, server_default="0")

    clusters: Mapped[list[Cluster]] = relationship(back_populates="region", order_by="Cluster.name")

    @property
    def zone(self) -> ZoneInfo:
        """The region's IANA zone; an unknown name reads as UTC rather than stopping every region's backups."""
        try:
            return ZoneInfo(self.timezone or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("region %s has an unknown timezone %r: read as UTC", self.name, self.timezone)
            return ZoneInfo("UTC")


class Cluster(Base):
    __tablename__ = "clusters"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="production")
    controller_url: Mapped[str] = mapped_column(String(255))
    load_balancer_name: Mapped[str | None] = mapped_column(String(255))
    monitored_from_id: Mapped[int | None] = mapped_column(ForeignKey("clusters.id"), index=True)

    region: Mapped[Region] = relationship(back_populates="clusters")
    monitored_from: Mapped[Cluster | None] = relationship(remote_side=[id])
    apps: Mapped[list[App]] = relationship(back_populates="cluster", order_by="App.name")


class App(Base):
    __tablename__ = "apps"
    __table_args__ = (
        UniqueConstraint("cluster_id", "name"),
        Index("ix_apps_cluster_type", "cluster_id", "app_type"),
        # One per sort of the applications list: a keyset page seeks straight to its first row and reads on in order.
        Index("ix_apps_name_id", "name", "id"),
        Index("ix_apps_owner_name", "owner", "name", "id"),
        Index("ix_apps_type_name", "app_type", "name", "id"),
        Index("ix_apps_synced_at_name", "synced_at", "name", "id"),
        trigram_index("apps", "name"),
        trigram_index("apps", "owner"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"), index=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    uuid: Mapped[str] = mapped_column(String(36), index=True)
    owner: Mapped[str] = mapped_column(String(150), index=True)
    app_type: Mapped[str] = mapped_column(String(32), default="web", index=True)
    # Set in the panel: wins over the settings label a sync reads (a sync never writes it).
    app_type_override: Mapped[str | None] = mapped_column(String(32))
    structure: Mapped[dict] = mapped_column(default=dict)
    config_values: Mapped[dict] = mapped_column(default=dict)
    memory: Mapped[dict] = mapped_column(default=dict)
    cpu: Mapped[dict] = mapped_column(default=dict)
    settings: Mapped[dict] = mapped_column(default=dict)
    monitoring_enabled: Mapped[bool] = mapped_column(default=False, index=True)
    # Set by sync and limit enforcement when the app's limits differ from its limit set: an indexed flag keeps
    # "limit drift" filters cheap with ten thousand apps.
    limit_drift: Mapped[bool] = mapped_column(default=False, index=True)
    health_path: Mapped[str] = mapped_column(String(255), default="/")
    created_upstream_at: Mapped[datetime | None]
    updated_upstream_at: Mapped[datetime | None]
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)

    cluster: Mapped[Cluster] = relationship(back_populates="apps")
    domains: Mapped[list[Domain]] = relationship(back_populates="app", order_by="Domain.name")
    database: Mapped[Database | None] = relationship(back_populates="app", uselist=False)


class Certificate(Base):
    __tablename__ = "certificates"
    __table_args__ = (UniqueConstraint("cluster_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    common_name: Mapped[str | None] = mapped_column(String(255), index=True)
    sans: Mapped[list] = mapped_column(default=list)
    starts_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
    fingerprint: Mapped[str | None] = mapped_column(String(128))
    issuer: Mapped[str | None] = mapped_column(String(512))
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Generated by the database, never written: the certificates list's keyset sort key, which must not be NULL (the
    # expiry; none known sorts last, as the far future). The literal is SQLite's own timestamp text, so it compares
    # equal to a cursor's value there; PostgreSQL reads it as a timestamptz. Stored, plain: its indexes are narrow.
    list_expiry: Mapped[datetime] = mapped_column(
        Computed(f"coalesce(expires_at, '{NO_EXPIRY_TEXT}')", persisted=True))

    cluster: Mapped[Cluster] = relationship()
    domains: Mapped[list[Domain]] = relationship(back_populates="certificate")


# The certificates list in its keyset order (soonest expiry, name, id), all of them or one cluster's
# (app/queries/certificates.py).
Index("ix_certificates_expiry_name", Certificate.list_expiry, Certificate.name, Certificate.id)
Index("ix_certificates_cluster_expiry_name", Certificate.cluster_id, Certificate.list_expiry, Certificate.name,
      Certificate.id)


class Domain(Base):
    __tablename__ = "domains"
    __table_args__ = (UniqueConstraint("app_id", "name"), trigram_index("domains", "name"))

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id", ondelete="SET NULL"), index=True)

    app: Mapped[App] = relationship(back_populates="domains")
    certificate: Mapped[Certificate | None] = relationship(back_populates="domains")

    @property
    def is_deis_default(self) -> bool:
        """Deis's own domain for the app (the app id, no dot): its router answers `<app>.<platform domain>` for it,
        through the cluster's wildcard record, so it needs no DNS record of its own."""
        return is_deis_default_domain(self.name)


def is_deis_default_domain(name: str) -> bool:
    """Whether a Deis domain is a bare name (the default the controller creates, equal to the app id)."""
    return "." not in name


class LimitSet(Base):
    """The limits an administrator wants for every app of one type on one cluster."""

    __tablename__ = "limit_sets"
    __table_args__ = (UniqueConstraint("cluster_id", "app_type"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id"), index=True)
    app_type: Mapped[str] = mapped_column(String(32))
    memory: Mapped[dict] = mapped_column(default=dict)
    cpu: Mapped[dict] = mapped_column(default=dict)
    # Limits an app has for process types this set does not name are removed by enforcement (else left alone).
    unset_extra: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    cluster: Mapped[Cluster] = relationship()
