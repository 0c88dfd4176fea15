"""The global search: one query string against apps, domains, instances (ids, names, IPs) and DNS records."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from app.models import App, Cluster, DnsRecord, Domain, Instance
from app.queries.text_search import contains_text

MIN_LENGTH = 2  # one character matches half the platform: nobody reads that
MAX_LENGTH = 100
SUGGESTED = 8  # per group, as the user types
FULL_PAGE = 50  # per group, on the results page
IP_RECORD_TYPES = ("A", "AAAA")


@dataclass(frozen=True)
class SearchHit:
    """One result: what it is (`kind`: app | instance | dns_record), which row, and how to label it."""

    kind: str
    id: int
    label: str
    detail: str = ""
    zone_id: int | None = None


@dataclass
class SearchGroup:
    """One kind of result: the first hits and how many matched in all."""

    key: str
    title: str
    hits: list[SearchHit] = field(default_factory=list)
    total: int = 0

    @property
    def more(self) -> int:
        return self.total - len(self.hits)


@dataclass
class SearchResults:
    query: str
    groups: list[SearchGroup]

    @property
    def total(self) -> int:
        return sum(group.total for group in self.groups)

    @property
    def too_short(self) -> bool:
        return len(self.query) < MIN_LENGTH


def _count(session: Session, query: Select) -> int:
    return session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0


def _group(session: Session, key: str, title: str, query: Select, limit: int, hit) -> SearchGroup:
    rows = list(session.execute(query.limit(limit)))
    # Counting is only needed when the first page is full: otherwise the rows are the whole story.
    total = _count(session, query) if len(rows) == limit else len(rows)
    return SearchGroup(key, title, [hit(row) for row in rows], total)


def search_platform(session: Session, query: str, limit: int = SUGGESTED) -> SearchResults:
    """Up to `limit` hits per group for `query` (matched anywhere, case-insensitively); nothing under 2 characters."""
    query = query.strip()[:MAX_LENGTH]
    if len(query) < MIN_LENGTH:
        return SearchResults(query, [])

    def like(column):
        return contains_text(column, query)

    apps = (
        select(App.id, App.name, Cluster.name, App.owner).join(App.cluster).where(like(App.name))
        .order_by(func.length(App.name), App.name, App.id)
    )
    domains = (
        select(Domain.app_id, Domain.name, App.name, Cluster.name).join(Domain.app).join(App.cluster)
        .where(like(Domain.name)).order_by(func.length(Domain.name), Domain.name, Domain.id)
    )
    instance_ips = (
        select(Instance.id, Instance.name, Instance.aws_id, Instance.private_ip, Instance.public_ip)
        .where(or_(like(Instance.private_ip), like(Instance.public_ip)))
        .order_by(Instance.private_ip, Instance.id)
    )
    record_ips = (
        select(DnsRecord.id, DnsRecord.name, DnsRecord.type, DnsRecord.content, DnsRecord.zone_id)
        .where(DnsRecord.type.in_(IP_RECORD_TYPES), like(DnsRecord.content))
        .order_by(DnsRecord.content, DnsRecord.name, DnsRecord.id)
    )
    instances = (
        select(Instance.id, Instance.name, Instance.aws_id, Instance.aws_region, Instance.state)
        .where(or_(like(Instance.aws_id), like(Instance.name)))
        .order_by(Instance.name, Instance.aws_id, Instance.id)
    )
    records = (
        select(DnsRecord.id, DnsRecord.name, DnsRecord.type, DnsRecord.content, DnsRecord.zone_id)
        .where(like(DnsRecord.name)).order_by(func.length(DnsRecord.name), DnsRecord.name, DnsRecord.id)
    )
    groups = [
        _group(session, "apps", "Applications", apps, limit,
               lambda row: SearchHit("app", row[0], row[1], f"{row[2]} · {row[3]}")),
        _group(session, "domains", "Domains", domains, limit,
               lambda row: SearchHit("app", row[0], row[1], f"→ {row[2]} on {row[3]}")),
        _group(session, "instance_ips", "IP addresses: instances", instance_ips, limit,
               lambda row: SearchHit("instance", row[0], " / ".join(ip for ip in (row[3], row[4]) if ip),
                                     f"→ {row[1] or row[2]}")),
        _group(session, "record_ips", "IP addresses: DNS records", record_ips, limit,
               lambda row: SearchHit("dns_record", row[0], row[3], f"{row[1]} ({row[2]})", zone_id=row[4])),
        _group(session, "instances", "Instances", instances, limit,
               lambda row: SearchHit("instance", row[0], row[1] or row[2], f"{row[2]} · {row[3]} · {row[4]}")),
        _group(session, "dns_records", "DNS records", records, limit,
               lambda row: SearchHit("dns_record", row[0], row[1], f"{row[2]} → {row[3][:80]}", zone_id=row[4])),
    ]
    return SearchResults(query, groups)
