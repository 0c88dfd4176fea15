"""Cloudflare zones and records, each record related to what it serves: an instance, a load balancer, an app."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.aws import Instance, LoadBalancer
from app.models.base import Base, trigram_index, utcnow
from app.models.platform import App


class DnsZone(Base):
    __tablename__ = "dns_zones"

    id: Mapped[int] = mapped_column(primary_key=True)
    cf_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)

    records: Mapped[list[DnsRecord]] = relationship(back_populates="zone", order_by="DnsRecord.name")


class DnsRecord(Base):
    __tablename__ = "dns_records"
    __table_args__ = (
        # A zone's records in the list's order (name, type, id), and of one type in that order: keyset pages.
        Index("ix_dns_records_zone_name_type", "zone_id", "name", "type", "id"),
        Index("ix_dns_records_zone_type_name", "zone_id", "type", "name", "id"),
        trigram_index("dns_records", "name"),
        trigram_index("dns_records", "content"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("dns_zones.id", ondelete="CASCADE"), index=True)
    cf_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(255), index=True)
    type: Mapped[str] = mapped_column(String(10), index=True)
    content: Mapped[str] = mapped_column(String(4096))
    ttl: Mapped[int] = mapped_column(default=1)
    proxied: Mapped[bool] = mapped_column(default=False)
    comment: Mapped[str | None] = mapped_column(String(500))
    modified_on: Mapped[datetime | None]
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instances.id", ondelete="SET NULL"), index=True)
    load_balancer_id: Mapped[int | None] = mapped_column(
        ForeignKey("load_balancers.id", ondelete="SET NULL"), index=True
    )
    app_id: Mapped[int | None] = mapped_column(ForeignKey("apps.id", ondelete="SET NULL"), index=True)
    # Points at nothing the panel knows (no instance, load balancer or record): a subdomain-takeover risk.
    dangling: Mapped[bool] = mapped_column(default=False, index=True)
    # The instance this record pointed at until a sync saw that instance's address change: "follows <instance>:
    # old address", until the record is repointed (or points at a known address again).
    follows_instance_id: Mapped[int | None] = mapped_column(ForeignKey("instances.id", ondelete="SET NULL"),
                                                            index=True)
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)

    zone: Mapped[DnsZone] = relationship(back_populates="records")
    instance: Mapped[Instance | None] = relationship(foreign_keys=[instance_id])
    follows_instance: Mapped[Instance | None] = relationship(foreign_keys=[follows_instance_id])
    load_balancer: Mapped[LoadBalancer | None] = relationship()
    app: Mapped[App | None] = relationship()
