"""Records that follow an instance's old address: a sync saw the instance's address change, the records did not."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from app.models import DnsRecord, Instance


@dataclass(frozen=True)
class FollowingInstance:
    """One instance whose records still hold its old address."""

    instance: Instance
    records: list[DnsRecord]


def following(session: Session, instance_id: int | None = None, limit: int = 50) -> list[FollowingInstance]:
    """Instances with records that follow their old address (just one instance's when `instance_id` is given)."""
    query = (select(DnsRecord).where(DnsRecord.follows_instance_id.is_not(None))
             .options(joinedload(DnsRecord.follows_instance), joinedload(DnsRecord.zone))
             .order_by(DnsRecord.follows_instance_id, DnsRecord.name).limit(limit))
    if instance_id is not None:
        query = query.where(DnsRecord.follows_instance_id == instance_id)
    groups: dict[int, FollowingInstance] = {}
    for record in session.scalars(query):
        group = groups.setdefault(record.follows_instance_id, FollowingInstance(record.follows_instance, []))
        group.records.append(record)
    return list(groups.values())


def following_count(session: Session) -> int:
    """How many records follow an old address, all instances together."""
    return session.scalar(select(func.count(DnsRecord.id)).where(DnsRecord.follows_instance_id.is_not(None))) or 0
