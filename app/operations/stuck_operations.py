"""Watching for operations that never finish (a stuck worker, a callback that never came)."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Operation
from app.operations.alerts import raise_alert, resolve_absent

KIND = "operation_stuck"
STUCK_AFTER = timedelta(hours=1)


def check(session: Session, now: datetime, stuck_after: timedelta = STUCK_AFTER) -> list[Operation]:
    """Raise an alert for every operation pending or running longer than `stuck_after`; resolve the rest."""
    stuck = list(
        session.scalars(
            select(Operation)
            .where(Operation.state.in_(("pending", "running")), Operation.created_at < now - stuck_after)
            .order_by(Operation.created_at)
        )
    )
    keys = set()
    for operation in stuck:
        key = f"{KIND}:{operation.uuid}"
        keys.add(key)
        age = now - operation.created_at
        raise_alert(
            session, kind=KIND, dedup_key=key, now=now, target=operation.target or operation.kind,
            target_type="operation", target_id=operation.uuid,
            message=f"{operation.kind} on {operation.target or '—'} has been {operation.state} for "
                    f"{int(age.total_seconds() // 60)} minutes",
        )
    resolve_absent(session, kind=KIND, still_present=keys, now=now)
    session.commit()
    return stuck
