"""AWS synchronizer, one region at a time: instances with roles and clusters, maintenance events, load balancers."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Cluster, Instance, LoadBalancer, LoadBalancerMember, MaintenanceEvent, utcnow
from app.models.aws import INSTANCE_ROLES
from app.services.aws import AwsInstance, AwsLoadBalancer, AwsRegion
from app.sync.deletion_guard import DeletionGuard
from app.sync.runs import Outcome, Progress
from app.sync.upsert import Counts, sweep, upsert

DB_ROLES = ("primary", "replica")


def fetch(client: AwsRegion, progress: Progress) -> tuple[list[AwsInstance], list[AwsLoadBalancer]]:
    instances = client.instances()
    progress(50, f"{len(instances)} instances listed")
    balancers = client.load_balancers()
    progress(90, f"{len(balancers)} load balancers listed; writing")
    return instances, balancers


def write(session: Session, region: str, instances: list[AwsInstance], balancers: list[AwsLoadBalancer],
          guard: DeletionGuard) -> Counts:
    """Make the region's rows match what AWS reported, then sweep what vanished unless the guard holds back a
    mass deletion of instances (then nothing at all is swept)."""
    now = utcnow()
    clusters = {name: cluster_id for name, cluster_id in session.execute(select(Cluster.name, Cluster.id))}
    instance_rows = []
    for instance in instances:
        role = instance.tags.get("role", "other")
        db_role = instance.tags.get("db-role")
        instance_rows.append({
            "aws_id": instance.aws_id, "aws_region": region, "name": instance.name,
            "role": role if role in INSTANCE_ROLES else "other",
            "cluster_id": clusters.get(instance.tags.get("cluster", "")),
            "db_role": db_role if db_role in DB_ROLES else None,
            "private_ip": instance.private_ip, "public_ip": instance.public_ip,
            "ipv6_ip": instance.ipv6_addresses[0] if instance.ipv6_addresses else None, "state": instance.state,
            "availability_zone": instance.availability_zone, "instance_type": instance.instance_type,
            "launched_at": instance.launched_at, "tags": instance.tags,
        })
    saved = upsert(session, Instance, lambda row: row["aws_id"], instance_rows, [Instance.aws_region == region],
                   insert_only={"synced_at": now})
    counts = saved.counts

    event_rows = [
        {"instance_id": saved.ids[instance.aws_id], "event_id": event.event_id, "code": event.code,
         "description": event.description, "not_before": event.not_before, "not_after": event.not_after,
         "completed": event.completed}
        for instance in instances for event in instance.events
    ]
    region_instances = select(Instance.id).where(Instance.aws_region == region)
    events = upsert(session, MaintenanceEvent, lambda row: (row["instance_id"], row["event_id"]), event_rows,
                    [MaintenanceEvent.instance_id.in_(region_instances)], insert_only={"first_seen_at": now})
    counts += events.counts

    balancer_rows = [
        {"aws_region": region, "name": balancer.name, "kind": balancer.kind, "dns_name": balancer.dns_name.lower(),
         "arn": balancer.arn, "cluster_id": clusters.get(balancer.tags.get("cluster", ""))}
        for balancer in balancers
    ]
    lbs = upsert(session, LoadBalancer, lambda row: row["name"], balancer_rows,
                 [LoadBalancer.aws_region == region], insert_only={"synced_at": now})
    counts += lbs.counts
    member_rows = _member_rows(instances, balancers, saved.ids, lbs.ids)
    region_balancers = select(LoadBalancer.id).where(LoadBalancer.aws_region == region)
    members = upsert(session, LoadBalancerMember,
                     lambda row: (row["load_balancer_id"], row["instance_id"], row["target_group"]),
                     member_rows, [LoadBalancerMember.load_balancer_id.in_(region_balancers)])
    counts += members.counts

    # Members and events of vanished instances and balancers are in those scopes, so they are stale rows too.
    if guard.permits("instances", len(saved.stale_ids), saved.existing):
        counts.deleted += sweep(session, LoadBalancerMember, members.stale_ids)
        counts.deleted += sweep(session, MaintenanceEvent, events.stale_ids)
        counts.deleted += sweep(session, LoadBalancer, lbs.stale_ids)
        counts.deleted += sweep(session, Instance, saved.stale_ids)
    return counts


def _member_rows(instances: list[AwsInstance], balancers: list[AwsLoadBalancer], instance_ids: dict,
                 balancer_ids: dict) -> list[dict]:
    """One row per (balancer, instance, target group); `ip` targets are found by the instance's private or IPv6 IP.

    An instance registered on several ports of one target group is one member, healthy only if every port is.
    """
    by_ip: dict[str, str] = {}
    for instance in instances:
        for address in (instance.private_ip, *instance.ipv6_addresses):
            if address:
                by_ip.setdefault(address, instance.aws_id)
    rows: dict[tuple, dict] = {}
    for balancer in balancers:
        for target in balancer.targets:
            aws_id = target.instance_id or by_ip.get(target.ip or "")
            if aws_id not in instance_ids:
                continue  # an address outside our instances (on premises, another VPC) or a vanished instance
            key = (balancer_ids[balancer.name], instance_ids[aws_id], target.target_group)
            row = rows.get(key)
            if row is None:
                rows[key] = {"load_balancer_id": key[0], "instance_id": key[1], "target_group": key[2],
                             "target_ip": target.ip, "health": target.health}
            elif row["health"] == "healthy" and target.health != "healthy":
                row["health"] = target.health
    return list(rows.values())


def synchronize(session: Session, client: AwsRegion, progress: Progress, guard: DeletionGuard) -> Outcome:
    instances, balancers = fetch(client, progress)
    return Outcome(counts=write(session, client.region, instances, balancers, guard), api_calls=client.calls)
