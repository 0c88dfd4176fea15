"""The load balancer page and what depends on an instance: members and health, the DNS records that reach them,
and the apps behind them. Fixed queries whatever the size: big app lists are counted and shown a page at a time."""
from __future__ import annotations

from dataclasses import dataclass, field

from urllib.parse import urlsplit

from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from app.models import App, Cluster, Database, DnsRecord, Instance, LoadBalancer, LoadBalancerMember
from app.queries.paging import Page, paginate

APPS_PER_PAGE = 50
APPS_SHOWN = 20  # per cluster, on an instance page: the rest is on the cluster page
HAND_SET_SHOWN = 50
RECORDS_PER_PAGE = 100
RECORDS_SHOWN = 50  # of each kind, on an instance page: a cluster's router can have thousands of records


@dataclass
class LoadBalancerOverview:
    load_balancer: LoadBalancer
    cluster: Cluster | None  # the cluster it serves (related by sync or named in DEIS_CLUSTERS)
    members: list[LoadBalancerMember]
    records: Page[DnsRecord]  # CNAMEs to its DNS name
    apps: Page[App]  # the cluster's apps: its router answers for every one of them behind this balancer
    apps_by_record: list[App]  # apps whose domains' records point at this balancer

    @property
    def unhealthy(self) -> list[LoadBalancerMember]:
        return [member for member in self.members if member.health not in (None, "InService", "healthy")]


@dataclass
class ServedCluster:
    """A cluster whose apps reach an instance through one of its load balancers."""

    cluster: Cluster
    load_balancer: LoadBalancer
    app_count: int
    apps: list[App] = field(default_factory=list)  # the first APPS_SHOWN


@dataclass
class InstanceDependents:
    """What stops working when an instance does."""

    load_balancers: list[LoadBalancerMember]  # its memberships, with health
    direct_records: list[DnsRecord]  # the first RECORDS_SHOWN
    records_through_load_balancers: list[DnsRecord]  # the first RECORDS_SHOWN
    direct_count: int
    through_count: int
    served_clusters: list[ServedCluster]
    apps_by_record: list[App]
    databases: list[Database]  # for a PostgreSQL server: databases on it (by host name, or its cluster's primary)
    # Apps whose DATABASE_URL was set by hand to one of the server's DNS names: on it, but not the panel's.
    hand_set_apps: list[App] = field(default_factory=list)

    @property
    def record_count(self) -> int:
        return self.direct_count + self.through_count


def served_cluster(session: Session, load_balancer: LoadBalancer) -> Cluster | None:
    """The cluster a balancer serves: `cluster_id` from sync, else the cluster naming it in DEIS_CLUSTERS."""
    if load_balancer.cluster is not None:
        return load_balancer.cluster
    return session.scalar(select(Cluster).where(Cluster.load_balancer_name == load_balancer.name).limit(1))


def _record_options():
    return (joinedload(DnsRecord.zone), joinedload(DnsRecord.app))


def _apps_of_records(records: list[DnsRecord]) -> list[App]:
    apps = {record.app.id: record.app for record in records if record.app is not None}
    return sorted(apps.values(), key=lambda app: (app.name, app.id))


def load_balancer_overview(session: Session, load_balancer_id: int, page: int = 1,
                           per_page: int = APPS_PER_PAGE, records_page: int = 1) -> LoadBalancerOverview | None:
    """Everything the load balancer page shows, or None when there is no balancer `load_balancer_id`."""
    load_balancer = session.scalar(
        select(LoadBalancer).where(LoadBalancer.id == load_balancer_id)
        .options(joinedload(LoadBalancer.cluster),
                 selectinload(LoadBalancer.members).joinedload(LoadBalancerMember.instance))
    )
    if load_balancer is None:
        return None
    cluster = served_cluster(session, load_balancer)
    pointing = DnsRecord.load_balancer_id == load_balancer.id
    records = paginate(session, select(DnsRecord).where(pointing).options(*_record_options())
                       .order_by(DnsRecord.name, DnsRecord.type, DnsRecord.id), records_page, RECORDS_PER_PAGE,
                       count_query=select(DnsRecord.id).where(pointing))
    if cluster is not None:
        apps = paginate(session, select(App).where(App.cluster_id == cluster.id).order_by(App.name, App.id),
                        page, per_page, count_query=select(App.id).where(App.cluster_id == cluster.id))
    else:
        apps = Page(page=page, per_page=per_page)
    members = sorted(load_balancer.members, key=lambda member: (member.instance.name or "", member.instance.aws_id,
                                                                member.target_group))
    return LoadBalancerOverview(load_balancer, cluster, members, records, apps, _apps_of_records(records.items))


def instance_dependents(session: Session, instance: Instance) -> InstanceDependents:
    """The balancers an instance serves, every record reaching it (directly or through them), the apps behind
    them, and for a PostgreSQL server the databases on it."""
    memberships = list(session.scalars(
        select(LoadBalancerMember).where(LoadBalancerMember.instance_id == instance.id)
        .options(joinedload(LoadBalancerMember.load_balancer).joinedload(LoadBalancer.cluster))
    ))
    memberships.sort(key=lambda member: (member.load_balancer.name, member.target_group))
    balancers = {member.load_balancer.id: member.load_balancer for member in memberships}
    direct_query = select(DnsRecord).where(DnsRecord.instance_id == instance.id)
    direct = list(session.scalars(direct_query.options(*_record_options())
                                  .order_by(DnsRecord.name, DnsRecord.type, DnsRecord.id).limit(RECORDS_SHOWN)))
    direct_count = _count(session, direct_query, len(direct))
    through: list[DnsRecord] = []
    through_count = 0
    if balancers:
        through_query = select(DnsRecord).where(DnsRecord.load_balancer_id.in_(balancers))
        through = list(session.scalars(
            through_query.options(*_record_options(), joinedload(DnsRecord.load_balancer))
            .order_by(DnsRecord.name, DnsRecord.type, DnsRecord.id).limit(RECORDS_SHOWN)))
        through_count = _count(session, through_query, len(through))
    # The cluster each balancer serves: related by sync, else named in DEIS_CLUSTERS (one query for all).
    unrelated = [balancer.name for balancer in balancers.values() if balancer.cluster is None]
    named = {cluster.load_balancer_name: cluster for cluster in session.scalars(
        select(Cluster).where(Cluster.load_balancer_name.in_(unrelated)))} if unrelated else {}
    served: dict[int, ServedCluster] = {}
    for balancer in sorted(balancers.values(), key=lambda row: row.name):
        cluster = balancer.cluster or named.get(balancer.name)
        if cluster is not None and cluster.id not in served:
            served[cluster.id] = ServedCluster(cluster, balancer, 0)
    if served:
        counts = dict(session.execute(select(App.cluster_id, func.count()).where(App.cluster_id.in_(served))
                                      .group_by(App.cluster_id)).all())
        # One query per cluster served: an instance sits behind one or two clusters' balancers, not hundreds.
        for entry in served.values():
            entry.apps = list(session.scalars(select(App).where(App.cluster_id == entry.cluster.id)
                                              .order_by(App.name, App.id).limit(APPS_SHOWN)))
        for cluster_id, entry in served.items():
            entry.app_count = counts.get(cluster_id, 0)
    databases: list[Database] = []
    hand_set_apps: list[App] = []
    if instance.role == "postgres":
        hosts = sorted(set(session.scalars(select(DnsRecord.name).where(DnsRecord.instance_id == instance.id))))
        reached = [Database.host.in_(hosts)] if hosts else []
        if instance.db_role == "primary" and instance.cluster_id is not None:
            reached.append(Database.cluster_id == instance.cluster_id)
        if reached:
            databases = list(session.scalars(
                select(Database).where(or_(*reached)).options(joinedload(Database.app))
                .order_by(Database.name, Database.id)))
        hand_set_apps = _apps_with_database_url_on(session, hosts, {database.app_id for database in databases})
    return InstanceDependents(memberships, direct, through, direct_count, through_count, list(served.values()),
                              _apps_of_records(direct + through), databases, hand_set_apps)


def _apps_with_database_url_on(session: Session, hosts: list[str], managed: set[int | None]) -> list[App]:
    """Apps whose config names one of `hosts` in DATABASE_URL, but whose database the panel did not create."""
    if not hosts:
        return []
    # The config is JSON: a text match narrows the rows in the database, the URL itself is checked here.
    candidates = session.scalars(
        select(App).where(or_(*(cast(App.config_values, String).contains(f"@{host}", autoescape=True)
                                for host in hosts)))
        .order_by(App.name, App.id).limit(HAND_SET_SHOWN * 4))
    apps = []
    for app in candidates:
        url = str((app.config_values or {}).get("DATABASE_URL") or "")
        try:
            host = urlsplit(url).hostname
        except ValueError:
            continue
        if host in hosts and app.id not in managed:
            apps.append(app)
    return apps[:HAND_SET_SHOWN]


def _count(session: Session, query, shown: int) -> int:
    """How many rows `query` has: what was shown when that was less than a full list, else counted."""
    if shown < RECORDS_SHOWN:
        return shown
    return session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
