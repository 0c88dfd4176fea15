"""Deep list pages (bench only): enough instances, DNS records of one zone and audit events that page 200 of each
list exists, bulk-inserted in a few seconds, and the pages whose page 1 / page 200 figures give `*_depth_ratio`."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, insert, select

from app.models import AuditEvent, Cluster, DnsRecord, Instance, utcnow
from app.queries import audit_log, dns_listing, instance_listing

DEPTH = 200  # the page measured against page 1
AUDIT_EVENTS = 20_000
SIGN_IN_EVERY = 10  # one event in ten is a sign-in (hidden by default: the default view still reaches page 200)


def rows_needed(per_page: int) -> int:
    return DEPTH * per_page + 100


def fill_depth(session, zone_id: int) -> dict[str, int]:
    """Top up the instances, the records of zone `zone_id` and the audit log so each list has page DEPTH; returns
    how many rows each list holds then."""
    now = utcnow()
    cluster_ids = list(session.scalars(select(Cluster.id).order_by(Cluster.id).limit(4)))
    have = session.scalar(select(func.count()).select_from(Instance)) or 0
    missing = max(0, rows_needed(instance_listing.PER_PAGE) - have)
    if missing:
        session.execute(insert(Instance), [
            {"aws_id": f"i-d{index:016x}", "aws_region": ("eu-west-1", "us-east-1")[index % 2],
             "name": f"deep-{index:05d}" if index % 50 else None, "role": ("deis", "postgres", "other")[index % 3],
             "cluster_id": cluster_ids[index % len(cluster_ids)] if cluster_ids else None,
             "private_ip": f"10.{100 + index // 65000}.{index // 250 % 256}.{index % 250 + 1}",
             "state": ("running", "stopped")[index % 7 == 0], "launched_at": now - timedelta(minutes=index),
             "tags": {}, "synced_at": now}
            for index in range(missing)
        ])
    have = session.scalar(select(func.count()).select_from(DnsRecord).where(DnsRecord.zone_id == zone_id)) or 0
    missing = max(0, rows_needed(dns_listing.PER_PAGE) - have)
    if missing:
        session.execute(insert(DnsRecord), [
            {"zone_id": zone_id, "cf_id": f"deep-record-{index}", "name": f"deep-{index:05d}.example.com",
             "type": ("A", "AAAA", "TXT")[index % 3], "content": f"10.9.{index // 250 % 256}.{index % 250 + 1}",
             "ttl": 1, "proxied": False, "dangling": False, "synced_at": now}
            for index in range(missing)
        ])
    session.execute(insert(AuditEvent), [
        {"at": now - timedelta(seconds=index // 2),  # two events at each instant: ties the id breaks
         "actor": ("system", "alice", "bob", "ci-bot")[index % 4],
         "action": "auth.sign_in" if index % SIGN_IN_EVERY == 0 else ("app.monitoring", "user.role", "sync.request",
                                                                       "limit_set.update")[index % 4],
         "target_type": "apps", "target_id": str(index), "target": f"app-{index % 5000:05d}",
         "before": {"monitoring_enabled": False}, "after": {"monitoring_enabled": True}}
        for index in range(AUDIT_EVENTS)
    ])
    session.commit()
    return {
        "instances": session.scalar(select(func.count()).select_from(Instance)) or 0,
        "records": session.scalar(select(func.count()).select_from(DnsRecord).where(DnsRecord.zone_id == zone_id)),
        "audit_events": session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
        "audit_per_page": audit_log.PER_PAGE,
    }


def deep_pages(zone_id: int) -> dict[str, str]:
    """Page 1 and page DEPTH of each list, measured over the topped-up tables (page 1 again: same data)."""
    return {
        "instances_deep_page1": "/instances/",
        "instances_page200": f"/instances/?page={DEPTH}",
        "dns_records_deep_page1": f"/dns/zones/{zone_id}",
        "dns_records_page200": f"/dns/zones/{zone_id}?page={DEPTH}",
        "audit_page1": "/audit/",
        "audit_page200": f"/audit/?page={DEPTH}",
    }


DEPTH_RATIOS = {  # key: (page DEPTH, page 1)
    "instances_depth_ratio": ("instances_page200", "instances_deep_page1"),
    "dns_records_depth_ratio": ("dns_records_page200", "dns_records_deep_page1"),
    "audit_depth_ratio": ("audit_page200", "audit_page1"),
}
