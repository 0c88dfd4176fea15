"""The global search: one query string against apps, clusters, owners, domains, load balancers, certificates,
instances (ids, names, IPs) and DNS records; a pasted URL finds the app serving its host, a typo a near miss."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Select, String, cast, func, or_, select
from sqlalchemy.orm import Session

from app.models import App, Certificate, Cluster, DnsRecord, Domain, Instance, LoadBalancer
from app.queries.search_terms import near_misses, pasted_host
from app.queries.text_search import contains_text

MIN_LENGTH = 2  # one character matches half the platform: nobody reads that
MAX_LENGTH = 300  # room for a pasted URL
SUGGESTED = 8  # per group, as the user types
FULL_PAGE = 50  # per group, on the results page
CLUSTER_APPS_SHOWN = 5  # apps listed under a cluster hit
IP_RECORD_TYPES = ("A", "AAAA")


@dataclass(frozen=True)
class SearchHit:
    """One result: what it is (`kind`: app | cluster | owner | load_balancer | certificate | instance | dns_record),
    which row, and how to label it."""

    kind: str
    id: int
    label: str
    detail: str = ""
    zone_id: int | None = None
    cluster: str | None = None  # a certificate's cluster (its list is filtered by it)
    children: tuple[SearchHit, ...] = ()  # a cluster's first apps


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
    host: str | None = None  # the host of a pasted URL, searched instead of the whole URL
    did_you_mean: list[str] = field(default_factory=list)

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


def _serving(session: Session, host: str, limit: int) -> SearchGroup:
    """The apps answering for `host`: a domain of that name, a wildcard over it, or Deis's default (`<app>.…`)."""
    host = host.lower()
    first_label, _, parent = host.partition(".")
    names = [host] + ([f"*.{parent}"] if parent else [])
    by_domain = select(Domain.app_id).where(func.lower(Domain.name).in_(names))
    # Deis's default domain is the bare app id, served as `<app>.<platform domain>`.
    by_default = select(Domain.app_id).where(Domain.name == first_label)
    query = (
        select(App.id, App.name, Cluster.name, App.id.in_(by_domain)).join(App.cluster)
        .where(or_(App.id.in_(by_domain), App.id.in_(by_default) & (App.name == first_label)))
        .order_by(App.id.in_(by_domain).desc(), App.name, App.id)
    )
    return _group(session, "address", f"Serving {host}", query, limit,
                  lambda row: SearchHit("app", row[0], row[1],
                                        f"on {row[2]} · {'its domain' if row[3] else 'Deis default address'}"))


def _with_cluster_apps(session: Session, group: SearchGroup) -> SearchGroup:
    """Each cluster hit with its first apps (one query for every hit)."""
    if not group.hits:
        return group
    numbered = select(
        App.cluster_id, App.id, App.name,
        func.row_number().over(partition_by=App.cluster_id, order_by=(App.name, App.id)).label("position"),
    ).where(App.cluster_id.in_([hit.id for hit in group.hits])).subquery()
    apps: dict[int, list[SearchHit]] = {}
    for cluster_id, app_id, name in session.execute(
            select(numbered.c.cluster_id, numbered.c.id, numbered.c.name)
            .where(numbered.c.position <= CLUSTER_APPS_SHOWN).order_by(numbered.c.cluster_id, numbered.c.position)):
        apps.setdefault(cluster_id, []).append(SearchHit("app", app_id, name))
    group.hits = [SearchHit(hit.kind, hit.id, hit.label, hit.detail, children=tuple(apps.get(hit.id, [])))
                  for hit in group.hits]
    return group


def search_platform(session: Session, query: str, limit: int = SUGGESTED) -> SearchResults:
    """Up to `limit` hits per group for `query` (matched anywhere, case-insensitively); nothing under 2 characters."""
    query = query.strip()[:MAX_LENGTH]
    if len(query) < MIN_LENGTH:
        return SearchResults(query, [])
    host = pasted_host(query)
    term = host or query

    def like(column):
        return contains_text(column, term)

    app_count = (select(func.count(App.id)).where(App.cluster_id == Cluster.id).correlate(Cluster)
                 .scalar_subquery())
    apps = (
        select(App.id, App.name, Cluster.name, App.owner).join(App.cluster).where(like(App.name))
        .order_by(func.length(App.name), App.name, App.id)
    )
    clusters = (
        select(Cluster.id, Cluster.name, Cluster.kind, app_count).where(like(Cluster.name))
        .order_by(func.length(Cluster.name), Cluster.name)
    )
    owners = (
        select(func.min(App.id), App.owner, func.count(App.id)).where(like(App.owner)).group_by(App.owner)
        .order_by(func.length(App.owner), App.owner)
    )
    domains = (
        select(Domain.app_id, Domain.name, App.name, Cluster.name).join(Domain.app).join(App.cluster)
        # Deis's default domain (the bare app id) is the app itself: the Applications group already lists it.
        .where(like(Domain.name), Domain.name.contains(".", autoescape=True))
        .order_by(func.length(Domain.name), Domain.name, Domain.id)
    )
    load_balancers = (
        select(LoadBalancer.id, LoadBalancer.name, LoadBalancer.kind, LoadBalancer.aws_region, LoadBalancer.dns_name)
        .where(or_(like(LoadBalancer.name), like(LoadBalancer.dns_name)))
        .order_by(func.length(LoadBalancer.name), LoadBalancer.name, LoadBalancer.id)
    )
    certificates = (
        select(Certificate.id, Certificate.common_name, Certificate.name, Cluster.name, Certificate.expires_at)
        .join(Certificate.cluster)
        .where(or_(like(Certificate.name), like(Certificate.common_name), like(cast(Certificate.sans, String))))
        .order_by(Certificate.expires_at, Certificate.id)
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
    groups = [_serving(session, host, limit)] if host else []
    groups += [
        _group(session, "apps", "Applications", apps, limit,
               lambda row: SearchHit("app", row[0], row[1], f"{row[2]} · {row[3]}")),
        _with_cluster_apps(session, _group(
            session, "clusters", "Clusters", clusters, limit,
            lambda row: SearchHit("cluster", row[0], row[1], f"{row[2]} · {row[3] or 0} app{'s' if row[3] != 1 else ''}"))),
        _group(session, "owners", "Owners", owners, limit,
               lambda row: SearchHit("owner", row[0], row[1], f"{row[2]} app{'s' if row[2] != 1 else ''}")),
        _group(session, "domains", "Domains", domains, limit,
               lambda row: SearchHit("app", row[0], row[1], f"→ {row[2]} on {row[3]}")),
        _group(session, "load_balancers", "Load balancers", load_balancers, limit,
               lambda row: SearchHit("load_balancer", row[0], row[1], f"{row[2]} · {row[3]} · {row[4]}")),
        _group(session, "certificates", "Certificates", certificates, limit,
               lambda row: SearchHit("certificate", row[0], row[1] or row[2], f"{row[2]} on {row[3]}",
                                     cluster=row[3])),
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
    results = SearchResults(query, groups, host=host)
    app_hits = sum(group.total for group in groups if group.key in ("address", "apps"))
    if not app_hits and not host:
        results.did_you_mean = near_misses(session, term)
    return results
