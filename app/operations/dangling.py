"""Dangling records: A/AAAA records to addresses no known instance or load balancer owns, CNAMEs to unknown
load-balancer names (each a subdomain-takeover risk). A plan deletes them, or repoints them to an instance."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.models import ChangeSet, DnsRecord, User
from app.operations.change_sets import ChangeSetRefused, PlannedChange, create_plan, wanted
from app.operations.repoint import find_instance
from app.services.cloudflare_dns import CloudflareDns, CloudflareRecord, CloudflareZone


def dangling_records(session: Session) -> list[DnsRecord]:
    """Every record the last sync found pointing at nothing the panel knows."""
    return list(session.scalars(select(DnsRecord).options(selectinload(DnsRecord.zone))
                                .where(DnsRecord.dangling.is_(True)).order_by(DnsRecord.name, DnsRecord.type)))


def plan_cleanup(session: Session, cf: CloudflareDns, record_ids: list[int], actor: User | str, *,
                 repoint_to: str | None = None) -> ChangeSet:
    """Plan deleting the chosen dangling records, or pointing the A ones at instance `repoint_to`.

    Only records the last sync marked dangling are taken: a plan never touches a record it was not asked to.
    """
    chosen = [row for row in dangling_records(session) if row.id in set(record_ids)]
    if not chosen:
        raise ChangeSetRefused("Choose at least one dangling record.")
    instance = find_instance(session, repoint_to) if repoint_to else None
    if instance is not None and instance.state in ("terminated", "shutting-down"):
        raise ChangeSetRefused(f"Instance {instance.name or instance.aws_id} is {instance.state}.")
    live: dict[str, dict[str, CloudflareRecord]] = {}
    changes = []
    for row in chosen:
        zone = CloudflareZone(row.zone.cf_id, row.zone.name)
        if zone.cf_id not in live:
            live[zone.cf_id] = {record.cf_id: record for record in cf.records(zone)}
        record = live[zone.cf_id].get(row.cf_id)
        if record is None:
            continue
        if instance is None:
            changes.append(PlannedChange(zone, "delete", record, None, "dangling: points at nothing the panel knows"))
            continue
        address = instance.ipv6_ip if row.type == "AAAA" else (instance.public_ip or instance.private_ip)
        if row.type == "CNAME" or address is None:
            raise ChangeSetRefused(f"{row.name} ({row.type}) cannot be pointed at an instance's address.")
        changes.append(PlannedChange(zone, "update", record, wanted(record, content=address),
                                     f"dangling: repointed to {instance.name or instance.aws_id}"))
    what = f"repoint to {repoint_to}" if instance is not None else "delete"
    return create_plan(session, kind="dangling", description=f"Dangling records: {what} ({len(changes)})",
                       actor=actor, parameters={"records": sorted(record_ids), "repoint_to": repoint_to},
                       changes=changes)
