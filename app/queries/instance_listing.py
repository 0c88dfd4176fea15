"""Instances as operators look for them: where they run, what points at them, what AWS has scheduled for them."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, joinedload

from app.models import (
    Cluster, DnsRecord, Instance, LoadBalancer, LoadBalancerMember, MaintenanceEvent,
)
from app.queries.index_walk import distinct_values_of
from app.queries.paging import Page, seek_paginate
from app.queries.text_search import contains_text

PER_PAGE = 100
DIRECTIONS = ("asc", "desc")
# Keyset sort keys must never be NULL: an instance is listed (and sorted) under the name the page shows, its AWS id
# when it has no Name tag; one never launched sorts by when it was first seen (columns the database generates, each
# sort with its index: app/models/aws.py).
LABEL = Instance.list_label
LAUNCHED = Instance.list_launched
SORTS = {
    "name": (LABEL,),  # then the id, as every sort (narrow keys: the numbered pages' key walk stays index-only)
    "region": (Instance.aws_region, LABEL),
    "role": (Instance.role, LABEL),
    "state": (Instance.state, LABEL),
    "launched_at": (LAUNCHED, LABEL),
}


@dataclass(frozen=True)
class InstanceFilters:
    """What the list is narrowed to; None means 'any'."""

    q: str = ""
    region: str | None = None
    role: str | None = None
    cluster: str | None = None
    state: str | None = None
    has_dns: bool | None = None
    has_maintenance: bool | None = None

    @property
    def active(self) -> bool:
        return bool(self.q) or any(
            value is not None
            for value in (self.region, self.role, self.cluster, self.state, self.has_dns, self.has_maintenance)
        )


@dataclass
class InstanceRow:
    instance: Instance
    dns_record_count: int
    load_balancers: list[LoadBalancer] = field(default_factory=list)
    maintenance_events: list[MaintenanceEvent] = field(default_factory=list)  # scheduled, not completed


@dataclass
class InstanceFilterOptions:
    regions: list[str]
    roles: list[str]
    clusters: list[str]
    states: list[str]


@dataclass
class InstanceDetail:
    """The instance and its maintenance history; what depends on it is in `load_balancer_overview`."""

    instance: Instance
    maintenance_events: list[MaintenanceEvent]  # every event AWS reported, scheduled ones first

    @property
    def scheduled_events(self) -> list[MaintenanceEvent]:
        return [event for event in self.maintenance_events if not event.completed]


def _has_dns():
    return select(DnsRecord.id).where(DnsRecord.instance_id == Instance.id).exists()


def _has_maintenance():
    return (
        select(MaintenanceEvent.id)
        .where(MaintenanceEvent.instance_id == Instance.id, MaintenanceEvent.completed.is_(False))
        .exists()
    )


def _filtered(query: Select, filters: InstanceFilters) -> Select:
    if filters.q:
        query = query.where(or_(
            contains_text(Instance.name, filters.q),
            contains_text(Instance.aws_id, filters.q),
            contains_text(Instance.private_ip, filters.q),
            contains_text(Instance.public_ip, filters.q),
        ))
    if filters.region is not None:
        query = query.where(Instance.aws_region == filters.region)
    if filters.role is not None:
        query = query.where(Instance.role == filters.role)
    if filters.cluster is not None:
        query = query.where(Cluster.name == filters.cluster)
    if filters.state is not None:
        query = query.where(Instance.state == filters.state)
    if filters.has_dns is not None:
        query = query.where(_has_dns() if filters.has_dns else ~_has_dns())
    if filters.has_maintenance is not None:
        query = query.where(_has_maintenance() if filters.has_maintenance else ~_has_maintenance())
    return query


def _load_balancers_by_instance(session: Session, instance_ids: list[int]) -> dict[int, list[LoadBalancer]]:
    pairs = session.execute(
        select(LoadBalancerMember.instance_id, LoadBalancer)
        .join(LoadBalancer, LoadBalancer.id == LoadBalancerMember.load_balancer_id)
        .where(LoadBalancerMember.instance_id.in_(instance_ids))
        .order_by(LoadBalancer.name)
    )
    grouped: dict[int, list[LoadBalancer]] = {}
    for instance_id, load_balancer in pairs:
        grouped.setdefault(instance_id, []).append(load_balancer)
    return grouped


def _scheduled_events_by_instance(session: Session, instance_ids: list[int]) -> dict[int, list[MaintenanceEvent]]:
    events = session.scalars(
        select(MaintenanceEvent)
        .where(MaintenanceEvent.instance_id.in_(instance_ids), MaintenanceEvent.completed.is_(False))
        .order_by(MaintenanceEvent.not_before)
    )
    grouped: dict[int, list[MaintenanceEvent]] = {}
    for event in events:
        grouped.setdefault(event.instance_id, []).append(event)
    return grouped


def list_instances(
    session: Session, filters: InstanceFilters, sort: str = "name", direction: str = "asc", page: int = 1,
    per_page: int = PER_PAGE, *, after: str | None = None, before: str | None = None,
) -> Page[InstanceRow]:
    """One page of instances matching `filters`, each with its load balancers, DNS count and scheduled events.

    Keyset-paged like the applications list: page `page`, or the page after / before a cursor of a Next / Previous
    link (`BadCursor` when it does not decode).
    """
    if sort not in SORTS or direction not in DIRECTIONS:
        raise ValueError(f"unknown sort {sort!r} {direction!r}")
    record_count = (
        select(func.count(DnsRecord.id)).where(DnsRecord.instance_id == Instance.id).correlate(Instance)
        .scalar_subquery()
    )
    primary, *tiebreaks = SORTS[sort]
    # Only the chosen column flips; ties stay in ascending name order, which is what people scan for.
    keys = [(primary, direction == "desc"), *((column, False) for column in tiebreaks), (Instance.id, False)]
    rows = _filtered(
        select(Instance, record_count).outerjoin(Instance.cluster).options(joinedload(Instance.cluster)), filters
    )
    # Joined to clusters only when filtered by one: even a join PostgreSQL removes keeps its key walk off the index.
    lean = select(Instance.id) if filters.cluster is None else select(Instance.id).outerjoin(Instance.cluster)
    count = _filtered(lean, filters)
    result = seek_paginate(session, rows, keys, count_query=count, per_page=per_page, page=page, after=after,
                           before=before, scalars=False)
    ids = [instance.id for instance, _ in result.items]
    load_balancers = _load_balancers_by_instance(session, ids) if ids else {}
    events = _scheduled_events_by_instance(session, ids) if ids else {}
    result.items = [
        InstanceRow(instance, records or 0, load_balancers.get(instance.id, []), events.get(instance.id, []))
        for instance, records in result.items
    ]
    return result


def instance_filter_options(session: Session) -> InstanceFilterOptions:
    """The values the filters offer, taken from the instances the panel knows."""
    # Index walks, not SELECT DISTINCT: a handful of values among thousands of instances, in one statement.
    walked = distinct_values_of(session, {"regions": Instance.aws_region, "roles": Instance.role,
                                          "states": Instance.state})
    return InstanceFilterOptions(
        regions=walked["regions"], roles=walked["roles"], states=walked["states"],
        clusters=list(session.scalars(select(Cluster.name).order_by(Cluster.name))),
    )


def instance_detail(session: Session, instance_id: int) -> InstanceDetail | None:
    """Everything about one instance, or None when there is no instance `instance_id`."""
    instance = session.scalar(
        select(Instance).where(Instance.id == instance_id).options(joinedload(Instance.cluster))
    )
    if instance is None:
        return None
    events = list(session.scalars(
        select(MaintenanceEvent).where(MaintenanceEvent.instance_id == instance.id)
        .order_by(MaintenanceEvent.completed, MaintenanceEvent.not_before.desc())
    ))
    return InstanceDetail(instance, events)
