"""Cloudflare synchronizer: zones and their records (all zones, or one zone after a change the panel made)."""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TypeVar

from sqlalchemy.orm import Session

from app.models import DnsRecord, DnsZone, utcnow
from app.services.cloudflare_dns import CloudflareDns, CloudflareRecord, CloudflareZone, InconsistentListing
from app.sync.deletion_guard import DeletionGuard
from app.sync.runs import Outcome, Progress
from app.sync.upsert import Counts, sweep, upsert

ALL = "all"
T = TypeVar("T")


class UnknownZone(LookupError):
    """The scope names a zone the Cloudflare token cannot see."""


def _twice(read: Callable[[], T]) -> T:
    """A listing that changed while it was read is tried once more; a second inconsistent one fails the run.

    Failing deletes nothing: a record skipped because the pages shifted under us still exists.
    """
    try:
        return read()
    except InconsistentListing:
        return read()


def fetch(client: CloudflareDns, scope: str, progress: Progress) -> tuple[list[CloudflareZone], dict[str, list[CloudflareRecord]]]:
    zones = _twice(client.zones)
    if scope != ALL:
        zones = [zone for zone in zones if zone.name == scope]
        if not zones:
            raise UnknownZone(f"Cloudflare has no zone {scope!r} for this token")
    progress(5, f"{len(zones)} zones listed")
    records: dict[str, list[CloudflareRecord]] = {}
    for done, zone in enumerate(zones, start=1):
        records[zone.cf_id] = _twice(partial(client.records, zone))
        progress(5 + int(90 * done / len(zones)), f"{zone.name}: {len(records[zone.cf_id])} records")
    progress(95, "writing")
    return zones, records


def write(session: Session, scope: str, zones: list[CloudflareZone], records: dict[str, list[CloudflareRecord]],
          guard: DeletionGuard) -> Counts:
    now = utcnow()
    zone_rows = [{"cf_id": zone.cf_id, "name": zone.name} for zone in zones]
    zone_scope = [] if scope == ALL else [DnsZone.name == scope]
    saved_zones = upsert(session, DnsZone, lambda row: row["cf_id"], zone_rows, zone_scope,
                         insert_only={"synced_at": now})
    counts = saved_zones.counts
    record_rows = [
        {"zone_id": saved_zones.ids[zone_cf_id], "cf_id": record.cf_id, "name": record.name.lower(),
         "type": record.type, "content": record.content, "ttl": record.ttl, "proxied": record.proxied,
         "comment": record.comment, "modified_on": record.modified_on}
        for zone_cf_id, zone_records in records.items() for record in zone_records
    ]
    zone_ids = list(saved_zones.ids.values())
    saved_records = upsert(session, DnsRecord, lambda row: row["cf_id"], record_rows,
                           [DnsRecord.zone_id.in_(zone_ids + saved_zones.stale_ids)], insert_only={"synced_at": now})
    counts += saved_records.counts
    # Records of vanished zones are in the record scope above, so they are among its stale rows.
    if guard.permits("records", len(saved_records.stale_ids), saved_records.existing):
        counts.deleted += sweep(session, DnsRecord, saved_records.stale_ids)
        counts.deleted += sweep(session, DnsZone, saved_zones.stale_ids)
    return counts


def synchronize(session: Session, client: CloudflareDns, scope: str, progress: Progress,
                guard: DeletionGuard) -> Outcome:
    zones, records = fetch(client, scope, progress)
    return Outcome(counts=write(session, scope, zones, records, guard), api_calls=client.calls)
