"""Watching for operations that never finish (a stuck or killed worker, a callback that never came).

An operation in progress longer than its kind's threshold is marked `stale` (audited) and gets one alert, kept open
while it stays stale; the alert resolves when the operation ends after all (a late callback) or is gone.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app import audit
from app.models import Operation
from app.operations import developer_transfers, interrupted_jobs
from app.operations.alerts import raise_alert, resolve_absent

KIND = "operation_stuck"
STALE = "stale"
IN_PROGRESS = ("pending", "running")
STUCK_AFTER = timedelta(hours=1)
# Minutes per operation kind; "default" for kinds not named. A backup or a restore of a big database takes a while.
# The panel's own kinds are database.backup / database.restore (the backup.* names are kept for settings that use them).
DEFAULT_STALE_MINUTES: dict[str, int] = {
    "default": 60, "database.backup": 180, "database.restore": 240, "backup.verify": 240,
    "backup.capture": 180, "backup.restore": 240,
}


def threshold(kind: str, stale_minutes: Mapping[str, int] | None = None) -> timedelta:
    """How long an operation of `kind` may stay in progress: the setting, else the default for the kind."""
    minutes = {**DEFAULT_STALE_MINUTES, **(stale_minutes or {})}
    return timedelta(minutes=minutes.get(kind, minutes["default"]))


def check(session: Session, now: datetime, stale_minutes: Mapping[str, int] | None = None,
          job_gone: interrupted_jobs.JobGone | None = None) -> list[Operation]:
    """Mark stale and alert on every operation in progress longer than its kind's threshold; keep the alerts of
    stale ones open and resolve the rest. Returns the stale operations. Uploads whose token expired unused end
    `failed` first: nobody is waiting for them.

    With `job_gone` (whether an RQ job is over), sync runs and change sets whose worker died are dealt with too.
    """
    developer_transfers.expire_unused_uploads(session, now)
    shortest = min(threshold(kind, stale_minutes) for kind in {**DEFAULT_STALE_MINUTES, **(stale_minutes or {})})
    since = func.coalesce(Operation.started_at, Operation.created_at)
    candidates = session.scalars(
        select(Operation).where(or_(Operation.state == STALE,
                                    Operation.state.in_(IN_PROGRESS) & (since < now - shortest)))
        .order_by(Operation.created_at)
    ).all()
    stale: list[Operation] = []
    keys = set()
    for operation in candidates:
        limit = threshold(operation.kind, stale_minutes)
        age = now - (operation.started_at or operation.created_at)
        if operation.state != STALE and age < limit:
            continue
        minutes = int(age.total_seconds() // 60)
        if operation.state != STALE:
            _mark_stale(session, operation, minutes, limit)
        stale.append(operation)
        key = f"{KIND}:{operation.uuid}"
        keys.add(key)
        # The message says what the operator saw when it was marked, so a rerun does not rewrite it every time.
        raise_alert(
            session, kind=KIND, dedup_key=key, now=now, target=operation.target or operation.kind,
            target_type="operation", target_id=operation.uuid,
            message=operation.progress_message or f"{operation.kind} on {operation.target or '—'} is stale",
        )
    if job_gone is not None:
        keys |= interrupted_jobs.check(session, job_gone, now, KIND)
    resolve_absent(session, kind=KIND, still_present=keys, now=now)
    session.commit()
    return stale


def _mark_stale(session: Session, operation: Operation, minutes: int, limit: timedelta) -> None:
    was = operation.state
    operation.state = STALE
    operation.progress_message = (f"{operation.kind} on {operation.target or '—'} has been {was} for {minutes} "
                                  f"minutes (more than {int(limit.total_seconds() // 60)}): marked stale")[:255]
    operation.error = (f"no result after {minutes} minutes: the worker may have died or the callback never came; "
                       "marked stale by the watchdog")
    audit.record(session, actor=None, action="operation.stale", target=operation.target or operation.uuid,
                 before={"state": was}, after={"state": STALE, "minutes": minutes})
