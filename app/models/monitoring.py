"""What monit watches beyond the apps: which clusters each monitoring cluster watches, and internal tools."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, utcnow
from app.models.platform import Cluster

MONITORING_KIND = "monitoring"


def watched_by_default(monitor: Cluster, cluster: Cluster) -> bool:
    """Whether `monitor` watches `cluster` unless told otherwise: its own region's clusters, and the production
    clusters whose `monitored_from` names it (each production region is also watched from another region)."""
    if cluster.region_id == monitor.region_id:
        return True
    return cluster.kind == "production" and cluster.monitored_from_id == monitor.id


class MonitorWatchOverride(Base):
    """An administrator's choice for one (monitor, cluster) pair that differs from the default.

    By default a monitor watches its own region's clusters and the production clusters whose `monitored_from`
    names it. Keeping only the differences means a cluster added later still gets its default.
    """

    __tablename__ = "monitor_watch_overrides"
    __table_args__ = (UniqueConstraint("monitor_id", "cluster_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"), index=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"), index=True)
    watched: Mapped[bool]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    monitor: Mapped[Cluster] = relationship(foreign_keys=[monitor_id])
    cluster: Mapped[Cluster] = relationship(foreign_keys=[cluster_id])


class InternalTool(Base):
    """A tool of the platform team (Grafana, the panel itself...) that every monitor checks over HTTP(S)."""

    __tablename__ = "internal_tools"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
