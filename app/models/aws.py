"""AWS as the panel sees it: instances, load balancers with their members, scheduled maintenance events."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, trigram_index, utcnow
from app.models.platform import Cluster

INSTANCE_ROLES = ("deis", "postgres", "chef", "monitoring", "other")


class Instance(Base):
    __tablename__ = "instances"
    __table_args__ = (
        *(trigram_index("instances", column) for column in ("name", "aws_id", "private_ip", "public_ip")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    aws_id: Mapped[str] = mapped_column(String(32), unique=True)
    aws_region: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str | None] = mapped_column(String(255), index=True)
    role: Mapped[str] = mapped_column(String(16), default="other", index=True)
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("clusters.id", ondelete="SET NULL"), index=True)
    db_role: Mapped[str | None] = mapped_column(String(16))
    private_ip: Mapped[str | None] = mapped_column(String(45), index=True)
    public_ip: Mapped[str | None] = mapped_column(String(45), index=True)
    # The primary IPv6 address (compressed, lower case), so AAAA records relate to the instance.
    ipv6_ip: Mapped[str | None] = mapped_column(String(45), index=True)
    state: Mapped[str] = mapped_column(String(32), index=True)
    availability_zone: Mapped[str | None] = mapped_column(String(32))
    instance_type: Mapped[str | None] = mapped_column(String(32))
    launched_at: Mapped[datetime | None]
    tags: Mapped[dict] = mapped_column(default=dict)
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)

    cluster: Mapped[Cluster | None] = relationship()
    maintenance_events: Mapped[list[MaintenanceEvent]] = relationship(
        back_populates="instance", order_by="MaintenanceEvent.not_before"
    )


# One per sort of the instances list, in its keyset order: the sort column, the name shown (the AWS id when there is
# no Name tag) that breaks its ties, the id (app/queries/instance_listing.py SORTS; expressions, on both dialects).
# Then the plain columns the expressions read: PostgreSQL answers a numbered page's key-only OFFSET scan from the
# index alone only when it holds them.
_LABEL = func.coalesce(Instance.name, Instance.aws_id)
_LABEL_COLUMNS = (Instance.name, Instance.aws_id)
Index("ix_instances_label", _LABEL, Instance.aws_id, Instance.id, Instance.name)
Index("ix_instances_region_label", Instance.aws_region, _LABEL, Instance.id, *_LABEL_COLUMNS)
Index("ix_instances_role_label", Instance.role, _LABEL, Instance.id, *_LABEL_COLUMNS)
Index("ix_instances_state_label", Instance.state, _LABEL, Instance.id, *_LABEL_COLUMNS)
Index("ix_instances_launched_label", func.coalesce(Instance.launched_at, Instance.synced_at), _LABEL, Instance.id,
      Instance.launched_at, Instance.synced_at, *_LABEL_COLUMNS)


class LoadBalancer(Base):
    __tablename__ = "load_balancers"
    __table_args__ = (UniqueConstraint("aws_region", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    aws_region: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))  # classic | v2
    dns_name: Mapped[str] = mapped_column(String(255), index=True)
    arn: Mapped[str | None] = mapped_column(String(512))
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("clusters.id", ondelete="SET NULL"), index=True)
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)

    cluster: Mapped[Cluster | None] = relationship()
    members: Mapped[list[LoadBalancerMember]] = relationship(back_populates="load_balancer")


class LoadBalancerMember(Base):
    """An instance behind a load balancer: one row per target group it is registered in (classic ELBs: "")."""

    __tablename__ = "load_balancer_members"
    __table_args__ = (UniqueConstraint("load_balancer_id", "instance_id", "target_group",
                                       name="uq_load_balancer_members_membership"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    load_balancer_id: Mapped[int] = mapped_column(ForeignKey("load_balancers.id", ondelete="CASCADE"), index=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), index=True)
    target_group: Mapped[str] = mapped_column(String(255), default="", server_default="")
    # Set when the target group registers by address (target type `ip`): the address the instance was found by.
    target_ip: Mapped[str | None] = mapped_column(String(45))
    health: Mapped[str | None] = mapped_column(String(32))

    load_balancer: Mapped[LoadBalancer] = relationship(back_populates="members")
    instance: Mapped[Instance] = relationship()


class MaintenanceEvent(Base):
    __tablename__ = "maintenance_events"
    __table_args__ = (UniqueConstraint("instance_id", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(String(512))
    not_before: Mapped[datetime | None] = mapped_column(index=True)
    not_after: Mapped[datetime | None]
    completed: Mapped[bool] = mapped_column(default=False, index=True)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    instance: Mapped[Instance] = relationship(back_populates="maintenance_events")
