"""DNS change sets: a plan of record changes with exact before snapshots, applied through Cloudflare's batch endpoint.

Applying (`apply`, run by the `jobs.change_sets.apply_change_set` job) goes zone by zone in chunks Cloudflare applies
atomically. First every record is checked against its planned before snapshot: if anyone changed one meanwhile the
set stops as a `conflict` and nothing is written. When a later chunk fails, the chunks already applied are reverted
in reverse order (the set ends `failed`, nothing changed); when the revert fails too, the set is left
`partially_applied` for a one-click resume or rollback. A rollback is a change set of its own, the inverse of what was
applied in reverse order, with the same checks. Every apply and rollback asks for a targeted DNS sync afterwards.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import update
from sqlalchemy.orm import Session

from app import audit
from app.models import ChangeSet, ChangeSetItem, User
from app.models.base import utcnow
from app.operations.sync_requests import request_sync
from app.services.cloudflare_dns import (BATCH_LIMIT, BatchChange, CloudflareDns, CloudflareError, CloudflareRecord,
                                         CloudflareZone)

APPLY_JOB = "jobs.change_sets.apply_change_set"
APPLY_TIMEOUT = 3600  # seconds: a 1,000-record switch under a tight budget waits for its slots
SNAPSHOT_FIELDS = ("name", "type", "content", "ttl", "proxied", "comment", "tags")
CHANGED_FIELDS = ("name", "content", "ttl", "proxied", "comment", "tags")
APPLICABLE = ("planned", "failed", "partially_applied")
ROLLBACK_FROM = ("applied", "partially_applied")
COMMENT_LIMIT = 100  # characters in a record comment on Free zones


class ChangeSetRefused(ValueError):
    """An action on a change set that its state does not allow, or a plan that makes no sense; nothing changed."""


@dataclass(frozen=True)
class PlannedChange:
    """One row of a plan: `before` is the live record (None for a create), `after` the full record wanted (None for a
    delete)."""

    zone: CloudflareZone
    action: str  # create | update | delete
    before: CloudflareRecord | None
    after: dict[str, Any] | None
    reason: str


def snapshot(record: CloudflareRecord) -> dict[str, Any]:
    """The exact state of a record as a plan keeps it (modified_on included, so any change since is seen)."""
    return {"name": record.name, "type": record.type, "content": record.content, "ttl": record.ttl,
            "proxied": record.proxied, "comment": record.comment, "tags": sorted(record.tags),
            "modified_on": record.modified_on.isoformat() if record.modified_on else None}


def wanted(record: CloudflareRecord | dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The full record an `after` describes: the given record's fields with `changes` applied."""
    fields = snapshot(record) if isinstance(record, CloudflareRecord) else dict(record)
    fields = {field: fields.get(field) for field in SNAPSHOT_FIELDS}
    fields.update(changes)
    fields["tags"] = sorted(fields.get("tags") or [])
    return fields


def ownership_comment(change_set_id: int, comment: str | None = None) -> str:
    """The comment a record the panel creates carries: which change set made it (after the old comment, if any)."""
    mark = f"admin-panel change set #{change_set_id}"
    if comment and mark not in comment:
        return f"{comment[:COMMENT_LIMIT - len(mark) - 3]} · {mark}"
    return comment or mark


def _actor_name(actor: User | str) -> str:
    return actor if isinstance(actor, str) else actor.username


def create_plan(session: Session, *, kind: str, description: str, actor: User | str, parameters: dict[str, Any],
                changes: list[PlannedChange]) -> ChangeSet:
    """Store a plan (state `planned`), audited and committed; ChangeSetRefused when it changes nothing."""
    if not changes:
        raise ChangeSetRefused("Nothing to change: no record matches this plan.")
    change_set = ChangeSet(kind=kind, state="planned", description=description[:512], created_by=_actor_name(actor),
                           parameters=parameters)
    session.add(change_set)
    session.flush()
    for position, change in enumerate(changes):
        after = dict(change.after) if change.after is not None else None
        if change.action == "create" and after is not None:
            after["comment"] = ownership_comment(change_set.id, after.get("comment"))
        change_set.items.append(ChangeSetItem(
            zone_cf_id=change.zone.cf_id, zone_name=change.zone.name, position=position, action=change.action,
            record_cf_id=change.before.cf_id if change.before else None,
            before=snapshot(change.before) if change.before else None, after=after, reason=change.reason[:512]))
    audit.record(session, actor=actor, action="change_set.plan", target=f"change set #{change_set.id}",
                 after={"kind": kind, "description": description, "items": len(changes), **parameters})
    session.commit()
    return change_set


def drop_items(session: Session, change_set: ChangeSet, item_ids: list[int], actor: User | str) -> int:
    """Leave the given rows out of a plan that has not been applied; returns how many were dropped."""
    if change_set.state != "planned":
        raise ChangeSetRefused(f"Change set #{change_set.id} is {change_set.state}: only a plan can lose rows.")
    dropped = [item for item in change_set.items if item.id in set(item_ids) and item.state == "pending"]
    for item in dropped:
        item.state = "dropped"
    audit.record(session, actor=actor, action="change_set.drop", target=f"change set #{change_set.id}",
                 after={"dropped": [f"{item.action} {item.record_type} {item.record_name}" for item in dropped]})
    session.commit()
    return len(dropped)


def request_apply(session: Session, queue: Queue | None, change_set: ChangeSet, actor: User | str) -> Job | None:
    """Mark the set `applying` and enqueue its apply job (no queue: the caller applies it in the foreground).

    A plan, a failed set (reverted) and a partially applied one (resume) can be applied; a conflict must be planned
    again: its plan is stale.
    """
    if change_set.state == "conflict":
        raise ChangeSetRefused(f"Change set #{change_set.id} is a stale plan: records changed since it was planned. "
                               "Plan again.")
    interrupted = change_set.state == "applying" and queue is not None and job_gone(queue, change_set)
    if change_set.state not in APPLICABLE and not interrupted:
        raise ChangeSetRefused(f"Change set #{change_set.id} is {change_set.state}; only a planned, failed or "
                               "partially applied set can be applied.")
    if not change_set.active_items:
        raise ChangeSetRefused(f"Change set #{change_set.id} has no rows left to apply.")
    before_state = change_set.state
    # Two clicks (or two admins) at once: only the request that moves the state from what it read may go on.
    claimed = session.execute(
        update(ChangeSet).where(ChangeSet.id == change_set.id, ChangeSet.state == before_state)
        .values(state="applying").execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        session.rollback()
        raise ChangeSetRefused(f"Change set #{change_set.id} is being applied already.")
    for item in change_set.active_items:
        if item.state in ("failed", "reverted", "conflict"):
            item.state, item.error = "pending", None
    if interrupted:
        # The worker died mid-apply: a chunk may have reached Cloudflare unrecorded; the apply adopts what matches.
        change_set.parameters = {**(change_set.parameters or {}), "interrupted": True}
    change_set.state, change_set.error = "applying", None
    change_set.applied_by = _actor_name(actor)
    change_set.progress_message = "waiting for a worker"
    session.flush()
    job = None
    if queue is not None:
        job = queue.enqueue(APPLY_JOB, change_set.id, job_timeout=APPLY_TIMEOUT)
        change_set.job_id = job.id
    action = "change_set.rollback" if change_set.kind == "rollback" else (
        "change_set.resume" if before_state in ("partially_applied", "applying") else "change_set.apply")
    audit.record(session, actor=actor, action=action, target=f"change set #{change_set.id}",
                 before={"state": before_state}, after={"state": "applying", "job_id": job.id if job else None})
    session.commit()
    return job


def job_gone(queue: Queue, change_set: ChangeSet) -> bool:
    """Whether the job applying this set is over without finishing it (failed, stopped, lost): it can be resumed."""
    if change_set.job_id is None:
        return False  # applied in the foreground: nothing tells whether it still runs
    try:
        job = Job.fetch(change_set.job_id, connection=queue.connection)
    except NoSuchJobError:
        return True
    return job.get_status(refresh=True) in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED,
                                            JobStatus.FINISHED)


def plan_rollback(session: Session, change_set: ChangeSet, actor: User | str) -> ChangeSet:
    """A change set that puts every record the given set changed back to its exact before state (reverse order)."""
    if change_set.state not in ROLLBACK_FROM:
        raise ChangeSetRefused(f"Change set #{change_set.id} is {change_set.state}; only an applied or partially "
                               "applied set can be rolled back.")
    applied = [item for item in change_set.items if item.state == "applied"]
    changes: list[ChangeSetItem] = []
    for position, item in enumerate(reversed(applied)):
        if item.action == "create":
            inverse = ChangeSetItem(action="delete", record_cf_id=item.record_cf_id, before=item.applied, after=None)
        elif item.action == "update":
            inverse = ChangeSetItem(action="update", record_cf_id=item.record_cf_id, before=item.applied,
                                    after=wanted(item.before or {}))
        else:
            inverse = ChangeSetItem(action="create", record_cf_id=None, before=None, after=wanted(item.before or {}))
        inverse.zone_cf_id, inverse.zone_name, inverse.position = item.zone_cf_id, item.zone_name, position
        inverse.reason = f"undo: {item.action} {item.record_type} {item.record_name}"
        changes.append(inverse)
    rollback = ChangeSet(kind="rollback", state="planned", created_by=_actor_name(actor), rollback_of_id=change_set.id,
                         description=f"Rollback of change set #{change_set.id}: {change_set.description or ''}"[:512],
                         parameters={"rollback_of": change_set.id}, items=changes)
    session.add(rollback)
    session.flush()
    audit.record(session, actor=actor, action="change_set.plan", target=f"change set #{rollback.id}",
                 after={"kind": "rollback", "rollback_of": change_set.id, "items": len(changes)})
    session.commit()
    return rollback


# -- applying (the job) ----------------------------------------------------------------------------------------------
Progress = Callable[[ChangeSet], None]


def apply(session: Session, cf: CloudflareDns, change_set_id: int, *, sync_queue: Queue | None = None,
          chunk_size: int = BATCH_LIMIT, listeners: list[Progress] | None = None) -> ChangeSet:
    """Apply the pending rows of a change set (the job's body); the set ends applied, conflict, failed or
    partially_applied, committed, with each row's outcome."""
    session.expire_all()  # the state the request committed, not what this session saw earlier
    change_set = session.get(ChangeSet, change_set_id)
    if change_set is None:
        raise ChangeSetRefused(f"No change set #{change_set_id}.")
    if change_set.state != "applying":
        raise ChangeSetRefused(f"Change set #{change_set.id} is {change_set.state}, not waiting to be applied.")
    calls_before = cf.calls
    pending = [item for item in change_set.active_items if item.state == "pending"]
    zones = {item.zone_cf_id: CloudflareZone(item.zone_cf_id, item.zone_name or item.zone_cf_id) for item in pending}
    _progress(session, change_set, listeners, "checking every record is still as planned")
    adopt = bool((change_set.parameters or {}).get("interrupted"))
    if adopt:
        change_set.parameters = {key: value for key, value in change_set.parameters.items() if key != "interrupted"}
    try:
        conflicts = _conflicts(cf, zones, pending, change_set.id if adopt else None)
    except CloudflareError as error:
        return _finish(session, cf, calls_before, change_set, "failed", sync_queue,
                       f"Could not check the records before applying; nothing changed. {error}")
    pending = [item for item in pending if item.state == "pending"]  # adopted rows are applied already
    if conflicts:
        for item, why in conflicts:
            item.state, item.error = "conflict", why
        if any(item.state == "applied" for item in change_set.items):
            # A resume that meets a change: what was applied before stays, and so does the way back.
            return _finish(session, cf, calls_before, change_set, "partially_applied", None,
                           f"{len(conflicts)} record(s) changed since the plan was made; nothing more was changed. "
                           "Roll back what was applied, then plan again.")
        return _finish(session, cf, calls_before, change_set, "conflict", None,
                       f"{len(conflicts)} record(s) changed since the plan was made; nothing was changed. "
                       "Plan again.")
    chunks = _chunks(pending, chunk_size)
    done: list[list[ChangeSetItem]] = []
    total = len(pending)
    for number, chunk in enumerate(chunks, start=1):
        zone = zones[chunk[0].zone_cf_id]
        try:
            records = cf.batch(zone, [_batch_change(item) for item in chunk])
        except CloudflareError as error:
            for item in chunk:
                item.state, item.error = "failed", str(error)
            reason = f"Chunk {number} of {len(chunks)} ({zone.name}) failed: {error}"
            return _recover(session, cf, calls_before, change_set, done, zones, sync_queue, reason)
        for item, record in zip(chunk, records, strict=True):
            item.state, item.error = "applied", None
            item.applied = snapshot(record) if record is not None else None
            if item.action == "create" and record is not None:
                item.record_cf_id = record.cf_id
        done.append(chunk)
        applied = sum(len(part) for part in done)
        change_set.progress = int(applied * 100 / total)
        _progress(session, change_set, listeners, f"{applied} of {total} changes applied ({zone.name})")
    return _finish(session, cf, calls_before, change_set, "applied", sync_queue, None)


def _conflicts(cf: CloudflareDns, zones: dict[str, CloudflareZone], pending: list[ChangeSetItem],
               adopt_for: int | None = None) -> list[tuple[ChangeSetItem, str]]:
    """Rows whose record is no longer exactly as planned (one listing per zone).

    `adopt_for` (resuming an interrupted apply of that set): a row whose record already is as planned — an update
    with every field changed, a create carrying this set's ownership comment — was applied unrecorded: it is marked
    applied instead.
    """
    live = {zone_cf_id: cf.records(zone) for zone_cf_id, zone in zones.items()}
    conflicts = []
    for item in pending:
        records = live[item.zone_cf_id]
        after = item.after or {}
        if item.action == "create":
            same = [record for record in records if record.name == after.get("name")
                    and record.type == after.get("type") and record.content == after.get("content")]
            ours = [record for record in same if adopt_for is not None
                    and f"admin-panel change set #{adopt_for}" in (record.comment or "")]
            if ours:
                item.state, item.record_cf_id, item.applied = "applied", ours[0].cf_id, snapshot(ours[0])
            elif same:
                conflicts.append((item, "a record with this name, type and content exists already"))
            continue
        current = next((record for record in records if record.cf_id == item.record_cf_id), None)
        if current is None:
            conflicts.append((item, "the record was deleted since the plan was made"))
            continue
        now = snapshot(current)
        if adopt_for is not None and item.action == "update" and all(
                now.get(field) == after.get(field) for field in CHANGED_FIELDS):
            item.state, item.applied = "applied", now
            continue
        differs = [field for field in (*SNAPSHOT_FIELDS, "modified_on") if now.get(field) != (item.before or {}).get(field)]
        if differs:
            shown = ", ".join(f"{field}: {(item.before or {}).get(field)!r} → {now.get(field)!r}" for field in differs)
            conflicts.append((item, f"changed since the plan was made ({shown})"))
    return conflicts


def _chunks(items: list[ChangeSetItem], size: int) -> list[list[ChangeSetItem]]:
    """Consecutive rows of one zone, at most `size` a chunk (zones in the order the plan first names them)."""
    by_zone: dict[str, list[ChangeSetItem]] = {}
    for item in sorted(items, key=lambda row: row.position):
        by_zone.setdefault(item.zone_cf_id, []).append(item)
    return [rows[start:start + size] for rows in by_zone.values() for start in range(0, len(rows), size)]


def _post_fields(fields: dict[str, Any]) -> dict[str, Any]:
    body = {field: fields.get(field) for field in ("name", "type", "content", "ttl", "proxied")}
    if fields.get("comment"):
        body["comment"] = fields["comment"]
    if fields.get("tags"):
        body["tags"] = list(fields["tags"])
    return body


def _batch_change(item: ChangeSetItem) -> BatchChange:
    """What Cloudflare is sent for a row: a post of the whole record, a patch of the changed fields, a delete."""
    before, after = item.before or {}, item.after or {}
    if item.action == "create":
        return BatchChange("post", after["name"], after["type"], fields=_post_fields(after))
    if item.action == "delete":
        return BatchChange("delete", before["name"], before["type"], record_id=item.record_cf_id)
    changed = {field: after.get(field) for field in CHANGED_FIELDS if after.get(field) != before.get(field)}
    if after.get("proxied"):
        changed.pop("ttl", None)  # proxied records always have automatic TTL
    return BatchChange("patch", before["name"], before["type"], record_id=item.record_cf_id, fields=changed)


def _revert_change(item: ChangeSetItem) -> BatchChange:
    """The inverse of an applied row, from what Cloudflare returned for it."""
    applied, before = item.applied or {}, item.before or {}
    if item.action == "create":
        return BatchChange("delete", applied.get("name", ""), applied.get("type", ""), record_id=item.record_cf_id)
    if item.action == "delete":
        return BatchChange("post", before["name"], before["type"], fields=_post_fields(before))
    changed = {field: before.get(field) for field in CHANGED_FIELDS if before.get(field) != applied.get(field)}
    return BatchChange("patch", applied.get("name", ""), applied.get("type", ""), record_id=item.record_cf_id,
                       fields=changed or {"content": before.get("content")})


def _recover(session: Session, cf: CloudflareDns, calls_before: int, change_set: ChangeSet,
             done: list[list[ChangeSetItem]], zones: dict[str, CloudflareZone], sync_queue: Queue | None,
             reason: str) -> ChangeSet:
    """Revert the applied chunks in reverse order; when that fails too, leave the set partially applied."""
    for chunk in reversed(done):
        zone = zones[chunk[0].zone_cf_id]
        rows = list(reversed(chunk))
        try:
            records = cf.batch(zone, [_revert_change(item) for item in rows])
        except CloudflareError as error:
            return _finish(session, cf, calls_before, change_set, "partially_applied", sync_queue,
                           f"{reason}. Reverting what was applied failed too ({error}): resume or roll back.")
        for item, record in zip(rows, records, strict=True):
            # The record is back as it was; the plan's before snapshot follows it (a re-created one has a new id).
            item.state, item.applied = "reverted", None
            if item.action == "create":
                item.record_cf_id = None
            elif record is not None:
                item.record_cf_id, item.before = record.cf_id, snapshot(record)
        session.commit()
    return _finish(session, cf, calls_before, change_set, "failed", sync_queue,
                   f"{reason}. What had been applied was reverted: every record is as before.")


def _finish(session: Session, cf: CloudflareDns, calls_before: int, change_set: ChangeSet, state: str,
            sync_queue: Queue | None, error: str | None) -> ChangeSet:
    change_set.state, change_set.error = state, error
    change_set.finished_at = utcnow()
    change_set.cloudflare_calls = cf.calls - calls_before
    if state == "applied":
        change_set.applied_at, change_set.progress = change_set.finished_at, 100
        if change_set.rollback_of is not None:
            change_set.rollback_of.state = "rolled_back"
    change_set.progress_message = {"applied": "applied", "conflict": "stopped: records changed since the plan",
                                   "failed": "failed and reverted", "partially_applied": "partially applied"}[state]
    audit.record(session, actor=change_set.applied_by, action=f"change_set.{state}",
                 target=f"change set #{change_set.id}",
                 after={"state": state, "error": error, "cloudflare_calls": change_set.cloudflare_calls,
                        "applied": sum(item.state == "applied" for item in change_set.items)})
    session.commit()
    if sync_queue is not None and state != "conflict":
        # Whatever Cloudflare now holds, the panel's copy of it must follow.
        request_sync(session, sync_queue, "cloudflare", None, change_set.applied_by or "change-set", after_change=True)
    return change_set


def _progress(session: Session, change_set: ChangeSet, listeners: list[Progress] | None, message: str) -> None:
    change_set.progress_message = message
    session.commit()
    for listener in listeners or []:
        listener(change_set)
