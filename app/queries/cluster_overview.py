"""The cluster page: its apps (a page at a time), instances, load balancer, limit sets, databases and monitors.

A fixed number of queries whatever the cluster holds: ten thousand apps cost one count and one page.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from app.models import (
    App, Cluster, Database, Instance, LimitSet, LoadBalancer, LoadBalancerMember, MonitorWatchOverride,
)
from app.models.monitoring import MONITORING_KIND, watched_by_default
from app.queries.paging import Page, paginate

APPS_PER_PAGE = 50


@dataclass
class LimitSetUse:
    limit_set: LimitSet
    app_count: int  # apps of that type on the cluster: the ones the set governs


@dataclass
class ClusterOverview:
    cluster: Cluster
    apps: Page[App]
    app_count: int
    monitored_app_count: int
    apps_without_limit_set: int
    instances: list[Instance]
    load_balancers: list[LoadBalancer]
    limit_sets: list[LimitSetUse]
    database_count: int
    # Monitoring clusters that watch this one, and (for a monitoring cluster) the clusters it watches.
    watched_from: list[Cluster] = field(default_factory=list)
    watches: list[Cluster] = field(default_factory=list)

    @property
    def postgres_instances(self) -> list[Instance]:
        return [instance for instance in self.instances if instance.role == "postgres"]


def find_cluster(session: Session, cluster_id: int) -> Cluster | None:
    return session.scalar(select(Cluster).where(Cluster.id == cluster_id)
                          .options(joinedload(Cluster.region), joinedload(Cluster.monitored_from)))


def cluster_load_balancers(session: Session, cluster: Cluster) -> list[LoadBalancer]:
    """The balancers in front of the cluster: related by sync, or named by `load_balancer` in DEIS_CLUSTERS."""
    named = [LoadBalancer.cluster_id == cluster.id]
    if cluster.load_balancer_name:
        named.append(LoadBalancer.name == cluster.load_balancer_name)
    return list(session.scalars(
        select(LoadBalancer).where(or_(*named))
        .options(selectinload(LoadBalancer.members).joinedload(LoadBalancerMember.instance))
        .order_by(LoadBalancer.name)
    ))


def monitors_of(session: Session, cluster: Cluster) -> tuple[list[Cluster], list[Cluster]]:
    """(monitoring clusters watching `cluster`, clusters `cluster` watches when it is a monitor), by name."""
    clusters = sorted(session.scalars(select(Cluster)), key=lambda row: row.name)
    overrides = {(row.monitor_id, row.cluster_id): row.watched for row in session.scalars(select(MonitorWatchOverride))}

    def watches(monitor: Cluster, watched: Cluster) -> bool:
        return overrides.get((monitor.id, watched.id), watched_by_default(monitor, watched))

    watched_from = [monitor for monitor in clusters if monitor.kind == MONITORING_KIND and watches(monitor, cluster)]
    watched = [other for other in clusters if watches(cluster, other)] if cluster.kind == MONITORING_KIND else []
    return watched_from, watched


def cluster_overview(session: Session, cluster: Cluster, page: int = 1,
                     per_page: int = APPS_PER_PAGE) -> ClusterOverview:
    """Everything the cluster page shows; `page` is the page of its apps."""
    apps = paginate(session, select(App).where(App.cluster_id == cluster.id).order_by(App.name, App.id),
                    page, per_page, count_query=select(App.id).where(App.cluster_id == cluster.id))
    monitored = session.scalar(select(func.count()).select_from(App).where(
        App.cluster_id == cluster.id, App.monitoring_enabled.is_(True))) or 0
    per_type = dict(session.execute(
        select(App.app_type, func.count()).where(App.cluster_id == cluster.id).group_by(App.app_type)).all())
    limit_sets = list(session.scalars(
        select(LimitSet).where(LimitSet.cluster_id == cluster.id).order_by(LimitSet.app_type)))
    governed = {limit_set.app_type for limit_set in limit_sets}
    instances = list(session.scalars(
        select(Instance).where(Instance.cluster_id == cluster.id).order_by(Instance.role, Instance.name, Instance.aws_id)))
    database_count = session.scalar(
        select(func.count()).select_from(Database).where(Database.cluster_id == cluster.id)) or 0
    watched_from, watches = monitors_of(session, cluster)
    return ClusterOverview(
        cluster=cluster,
        apps=apps,
        app_count=apps.total,
        monitored_app_count=monitored,
        apps_without_limit_set=sum(count for app_type, count in per_type.items() if app_type not in governed),
        instances=instances,
        load_balancers=cluster_load_balancers(session, cluster),
        limit_sets=[LimitSetUse(limit_set, per_type.get(limit_set.app_type, 0)) for limit_set in limit_sets],
        database_count=database_count,
        watched_from=watched_from,
        watches=watches,
    )


def list_clusters(session: Session) -> list[tuple[Cluster, int]]:
    """Every cluster with its number of apps, by region then name."""
    app_count = (select(func.count(App.id)).where(App.cluster_id == Cluster.id).correlate(Cluster)
                 .scalar_subquery())
    return [(cluster, count or 0) for cluster, count in session.execute(
        select(Cluster, app_count).options(joinedload(Cluster.region), joinedload(Cluster.monitored_from))
        .order_by(Cluster.name))]
