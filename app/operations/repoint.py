"""Records follow their instance: repoint the records of an instance whose address changed, or of a replaced instance
to the instance that takes over. Which records is read from the panel's copy; their before snapshots from Cloudflare.
"""
from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from app.models import ChangeSet, DnsRecord, Instance, User
from app.operations.change_sets import ChangeSetRefused, PlannedChange, create_plan, wanted
from app.services.cloudflare_dns import CloudflareDns, CloudflareRecord, CloudflareZone

GONE_STATES = ("terminated", "shutting-down")


def find_instance(session: Session, name_or_id: str) -> Instance:
    """An instance by its Name tag or AWS id; ChangeSetRefused when none or several match."""
    key = (name_or_id or "").strip()
    found = session.scalars(select(Instance).where(or_(Instance.name == key, Instance.aws_id == key))).all()
    if not found:
        raise ChangeSetRefused(f"No instance called {key[:64]!r}.")
    if len(found) > 1:
        raise ChangeSetRefused(f"{len(found)} instances are called {key[:64]!r}: give the AWS id.")
    return found[0]


def _new_address(record: DnsRecord, old: Instance | None, new: Instance) -> str | None:
    """The address of `new` a record should hold: the same family, and private for private, public for public."""
    if record.type == "AAAA":
        return new.ipv6_ip
    if old is not None and record.content == old.private_ip:
        return new.private_ip
    if old is not None and record.content == old.public_ip:
        return new.public_ip or new.private_ip
    return new.public_ip or new.private_ip  # the old address is gone: a record of a public name wants the public one


def _plan(session: Session, cf: CloudflareDns, rows: list[DnsRecord], old: Instance | None, new: Instance,
          reason: str) -> list[PlannedChange]:
    live: dict[str, dict[str, CloudflareRecord]] = {}
    changes = []
    for row in rows:
        zone = CloudflareZone(row.zone.cf_id, row.zone.name)
        if zone.cf_id not in live:
            live[zone.cf_id] = {record.cf_id: record for record in cf.records(zone)}
        record = live[zone.cf_id].get(row.cf_id)
        address = _new_address(row, old, new)
        if record is None or address is None or record.content == address:
            continue
        changes.append(PlannedChange(zone, "update", record, wanted(record, content=address), reason))
    return changes


def _usable(instance: Instance) -> None:
    if instance.state in GONE_STATES:
        raise ChangeSetRefused(f"Instance {instance.name or instance.aws_id} is {instance.state}: records cannot "
                               "point at it.")


def plan_repoint(session: Session, cf: CloudflareDns, from_name: str, to_name: str, actor: User | str) -> ChangeSet:
    """Plan moving every record of instance `from_name` (pointing at it, or following its old address) to `to_name`."""
    old, new = find_instance(session, from_name), find_instance(session, to_name)
    if old.id == new.id:
        raise ChangeSetRefused(f"An instance cannot take over its own records ({old.name or old.aws_id}).")
    _usable(new)
    rows = session.scalars(
        select(DnsRecord).options(selectinload(DnsRecord.zone))
        .where(DnsRecord.type.in_(("A", "AAAA")),
               or_(DnsRecord.instance_id == old.id, DnsRecord.follows_instance_id == old.id))
        .order_by(DnsRecord.name)).all()
    changes = _plan(session, cf, list(rows), old, new,
                    f"points at {old.name or old.aws_id}, replaced by {new.name or new.aws_id}")
    if not changes:
        raise ChangeSetRefused(f"No record points at {old.name or old.aws_id}: nothing to repoint.")
    return create_plan(session, kind="repoint", actor=actor, changes=changes,
                       description=f"Repoint {old.name or old.aws_id} → {new.name or new.aws_id}",
                       parameters={"from": old.name or old.aws_id, "to": new.name or new.aws_id})


def plan_follow(session: Session, cf: CloudflareDns, instance_name: str, actor: User | str) -> ChangeSet:
    """Plan repointing the records that follow `instance_name`'s old address to its current one (the one click)."""
    instance = find_instance(session, instance_name)
    _usable(instance)
    rows = session.scalars(select(DnsRecord).options(selectinload(DnsRecord.zone))
                           .where(DnsRecord.follows_instance_id == instance.id).order_by(DnsRecord.name)).all()
    label = instance.name or instance.aws_id
    changes = _plan(session, cf, list(rows), None, instance, f"follows {label}: old address")
    if not changes:
        raise ChangeSetRefused(f"No record follows an old address of {label}.")
    return create_plan(session, kind="repoint", actor=actor, changes=changes,
                       description=f"Follow {label} to its new address", parameters={"follow": label})
