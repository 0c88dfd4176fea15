"""Cloudflare zones with their record counts, and each zone's records with what they point at."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, joinedload

from app.models import DnsRecord, DnsZone
from app.queries.index_walk import distinct_values
from app.queries.paging import Page, paginate, seek_paginate
from app.queries.text_search import contains_text

PER_PAGE = 100


@dataclass
class ZoneRow:
    zone: DnsZone
    record_count: int
    dangling_count: int


@dataclass(frozen=True)
class RecordFilters:
    """What a zone's records are narrowed to; None means 'any type'."""

    q: str = ""
    type: str | None = None
    dangling_only: bool = False

    @property
    def active(self) -> bool:
        return bool(self.q) or self.type is not None or self.dangling_only


def list_zones(session: Session, page: int = 1, per_page: int = PER_PAGE) -> Page[ZoneRow]:
    """One page of zones by name, each with its number of records and of dangling records."""
    record_count = (
        select(func.count(DnsRecord.id)).where(DnsRecord.zone_id == DnsZone.id).correlate(DnsZone).scalar_subquery()
    )
    dangling_count = (
        select(func.count(DnsRecord.id)).where(DnsRecord.zone_id == DnsZone.id, DnsRecord.dangling.is_(True))
        .correlate(DnsZone).scalar_subquery()
    )
    rows = select(DnsZone, record_count, dangling_count).order_by(DnsZone.name, DnsZone.id)
    result = paginate(session, rows, page, per_page, count_query=select(DnsZone.id), scalars=False)
    result.items = [ZoneRow(zone, records or 0, dangling or 0) for zone, records, dangling in result.items]
    return result


def _filtered(query: Select, zone_id: int, filters: RecordFilters) -> Select:
    query = query.where(DnsRecord.zone_id == zone_id)
    if filters.q:
        query = query.where(or_(
            contains_text(DnsRecord.name, filters.q),
            contains_text(DnsRecord.content, filters.q),
        ))
    if filters.type is not None:
        query = query.where(DnsRecord.type == filters.type)
    if filters.dangling_only:
        query = query.where(DnsRecord.dangling.is_(True))
    return query


# Name, then type (an A and an AAAA of one name), then id: the index ix_dns_records_zone_name_type serves it.
RECORD_KEYS = [(DnsRecord.name, False), (DnsRecord.type, False), (DnsRecord.id, False)]


def list_zone_records(
    session: Session, zone_id: int, filters: RecordFilters, page: int = 1, per_page: int = PER_PAGE, *,
    after: str | None = None, before: str | None = None,
) -> Page[DnsRecord]:
    """One page of a zone's records by name, each with its instance, load balancer and app loaded.

    Keyset-paged: page `page`, or the page after / before a cursor (`BadCursor` when it does not decode).
    """
    rows = _filtered(
        select(DnsRecord).options(
            joinedload(DnsRecord.instance), joinedload(DnsRecord.load_balancer), joinedload(DnsRecord.app)
        ),
        zone_id, filters,
    )
    return seek_paginate(session, rows, RECORD_KEYS, count_query=_filtered(select(DnsRecord.id), zone_id, filters),
                         per_page=per_page, page=page, after=after, before=before)


def zone_record_types(session: Session, zone_id: int) -> list[str]:
    """The record types present in a zone (what the type filter offers), by a walk of ix_dns_records_zone_type_name."""
    return distinct_values(session, DnsRecord.type, DnsRecord.zone_id == zone_id)


def zone_by_id(session: Session, zone_id: int) -> DnsZone | None:
    """The zone `zone_id`, or None."""
    return session.get(DnsZone, zone_id)
