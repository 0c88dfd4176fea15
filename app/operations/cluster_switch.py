"""Cluster switch: plan moving every DNS record that serves one cluster to another cluster's load balancer.

A record serves the source cluster when it is a CNAME to its load balancer's DNS name (or the `dualstack.` name), or
when its name's A/AAAA set holds only addresses of instances behind that load balancer, except an instance's own host
record (`<Name tag>.<zone>` keeps pointing at that instance). CNAMEs get the target's DNS name; an address set becomes
one record per healthy instance behind the target's load balancer. ttl, proxied, comment and tags stay as they were.
Which records qualify is read from the panel's synced copy; their before snapshots come from Cloudflare itself.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.models import App, ChangeSet, Cluster, DnsRecord, DnsZone, Instance, LoadBalancer, User
from app.operations.change_sets import ChangeSetRefused, PlannedChange, create_plan, wanted
from app.services.cloudflare_dns import CloudflareDns, CloudflareRecord, CloudflareZone

HEALTHY = ("healthy", "InService")
DUALSTACK = "dualstack."


@dataclass(frozen=True)
class Balancer:
    """A cluster's load balancer as a switch sees it: its DNS name and the instances behind it."""

    load_balancer: LoadBalancer
    instances: list[Instance]
    healthy: list[Instance]


def balancer_of(session: Session, cluster: Cluster) -> Balancer:
    """The cluster's load balancer (by the cluster's configured name, else the one related to the cluster)."""
    query = select(LoadBalancer).options(selectinload(LoadBalancer.members))
    candidates = session.scalars(query.where(LoadBalancer.cluster_id == cluster.id)).all()
    chosen = next((lb for lb in candidates if lb.name == cluster.load_balancer_name), None) or (
        candidates[0] if candidates else None)
    if chosen is None:
        raise ChangeSetRefused(f"Cluster {cluster.name} has no load balancer the panel knows (sync AWS first).")
    instances = {member.instance.id: member.instance for member in chosen.members}
    healthy = {member.instance.id: member.instance for member in chosen.members
               if member.health in HEALTHY and member.instance.state == "running"}
    return Balancer(chosen, sorted(instances.values(), key=lambda i: i.name or i.aws_id),
                    sorted(healthy.values(), key=lambda i: i.name or i.aws_id))


def _cluster(session: Session, name: str, role: str) -> Cluster:
    cluster = session.scalar(select(Cluster).where(Cluster.name == (name or "").strip()))
    if cluster is None:
        raise ChangeSetRefused(f"No cluster called {name[:64]!r} ({role}).")
    return cluster


def _address(instance: Instance, record_type: str, private: bool) -> str | None:
    if record_type == "AAAA":
        return instance.ipv6_ip
    return instance.private_ip if private else (instance.public_ip or instance.private_ip)


def plan_switch(session: Session, cf: CloudflareDns, source_name: str, target_name: str, actor: User | str, *,
                zone_name: str | None = None, app_name: str | None = None) -> ChangeSet:
    """Plan the switch of `source_name`'s records to `target_name` (optionally one zone or one app's domains).

    Refuses a switch to itself, a target with no healthy instance behind its load balancer, an unknown zone or app.
    """
    source = _cluster(session, source_name, "source")
    target = _cluster(session, target_name, "target")
    if source.id == target.id:
        raise ChangeSetRefused(f"A cluster cannot be switched to itself ({source.name}).")
    source_lb, target_lb = balancer_of(session, source), balancer_of(session, target)
    if not target_lb.healthy:
        raise ChangeSetRefused(f"Cluster {target.name} has no healthy instance behind its load balancer "
                               f"{target_lb.load_balancer.name}: nothing could serve the switched records.")
    query = select(DnsRecord).join(DnsZone).options(selectinload(DnsRecord.zone))
    if zone_name:
        if session.scalar(select(DnsZone.id).where(DnsZone.name == zone_name.strip().lower())) is None:
            raise ChangeSetRefused(f"No zone called {zone_name[:64]!r}.")
        query = query.where(DnsZone.name == zone_name.strip().lower())
    if app_name:
        app = session.scalar(select(App).where(App.name == app_name.strip(), App.cluster_id == source.id))
        if app is None:
            raise ChangeSetRefused(f"No app {app_name[:64]!r} on cluster {source.name}.")
        query = query.where(DnsRecord.app_id == app.id)
    records = session.scalars(query.order_by(DnsZone.name, DnsRecord.name, DnsRecord.type)).all()

    source_ids = {instance.id for instance in source_lb.instances}
    lb_name = source_lb.load_balancer.dns_name.lower()
    zones: dict[str, CloudflareZone] = {}
    live: dict[str, dict[str, CloudflareRecord]] = {}

    def live_record(row: DnsRecord) -> CloudflareRecord | None:
        zone = zones.setdefault(row.zone.cf_id, CloudflareZone(row.zone.cf_id, row.zone.name))
        if zone.cf_id not in live:
            live[zone.cf_id] = {record.cf_id: record for record in cf.records(zone)}
        return live[zone.cf_id].get(row.cf_id)

    changes: list[PlannedChange] = []
    address_sets: dict[tuple[str, str, str], list[DnsRecord]] = defaultdict(list)
    for row in records:
        if row.type == "CNAME" and row.load_balancer_id == source_lb.load_balancer.id:
            record = live_record(row)
            if record is None:
                continue  # gone from Cloudflare since the last sync: nothing to move
            dualstack = record.content.lower().rstrip(".") == DUALSTACK + lb_name
            content = (DUALSTACK if dualstack else "") + target_lb.load_balancer.dns_name.lower()
            changes.append(PlannedChange(zones[row.zone.cf_id], "update", record, wanted(record, content=content),
                                         f"CNAME to {source.name}'s load balancer {source_lb.load_balancer.name}"))
        elif row.type in ("A", "AAAA"):
            address_sets[(row.zone.cf_id, row.name, row.type)].append(row)
    host_names = {instance.name.lower() for instance in source_lb.instances if instance.name}
    for (_zone_cf_id, name, record_type), rows in address_sets.items():
        if not all(row.instance_id in source_ids for row in rows):
            continue
        if any(name.lower() == f"{host}.{rows[0].zone.name}" for host in host_names):
            continue  # an instance's own host record keeps pointing at that instance
        changes.extend(_address_set_changes(rows, record_type, target_lb, live_record, zones, source.name))
    if not changes:
        raise ChangeSetRefused(f"No record serves cluster {source.name}"
                               + (f" in zone {zone_name}" if zone_name else "") + ": nothing to switch.")
    description = f"Switch {source.name} → {target.name}" + (f" (zone {zone_name})" if zone_name else "") + (
        f" (app {app_name})" if app_name else "")
    parameters = {"from": source.name, "to": target.name, "zone": zone_name or None, "app": app_name or None}
    return create_plan(session, kind="cluster_switch", description=description, actor=actor, parameters=parameters,
                       changes=changes)


def _address_set_changes(rows: list[DnsRecord], record_type: str, target_lb: Balancer, live_record,
                         zones: dict[str, CloudflareZone], source_name: str) -> list[PlannedChange]:
    """Turn one name's A/AAAA set into one record per healthy target instance: update pairs, create or delete the
    rest."""
    current = [record for record in (live_record(row) for row in rows) if record is not None]
    if not current:
        return []
    zone = zones[rows[0].zone.cf_id]
    private = any(row.instance is not None and row.content == row.instance.private_ip for row in rows)
    addresses = sorted({address for instance in target_lb.healthy
                        if (address := _address(instance, record_type, private)) is not None})
    if not addresses:
        return []
    reason = f"{record_type} set of {source_name}'s instances behind its load balancer"
    keep = [record for record in current if record.content in addresses]
    moving = [record for record in current if record.content not in addresses]
    missing = [address for address in addresses if address not in {record.content for record in keep}]
    changes = []
    for record, address in zip(moving, missing, strict=False):
        changes.append(PlannedChange(zone, "update", record, wanted(record, content=address), reason))
    for record in moving[len(missing):]:
        changes.append(PlannedChange(zone, "delete", record, None, reason))
    template = current[0]
    for address in missing[len(moving):]:
        changes.append(PlannedChange(zone, "create", None, wanted(template, content=address), reason))
    return changes
