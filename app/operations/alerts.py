"""Alerts: raised once per dedup key, kept fresh while the condition lasts, resolved when it goes away."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.models import Alert


def raise_alert(
    session: Session,
    *,
    kind: str,
    dedup_key: str,
    message: str,
    now: datetime,
    severity: str = "warning",
    target: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
) -> Alert:
    """Open an alert, or refresh the open one with the same key (a resolved one reopens)."""
    alert = session.scalar(select(Alert).where(Alert.dedup_key == dedup_key))
    if alert is None:
        alert = Alert(kind=kind, dedup_key=dedup_key, first_at=now)
        session.add(alert)
        audit.record(session, actor=None, action="alert.raise", target=target or dedup_key,
                     after={"kind": kind, "message": message})
    elif alert.resolved_at is not None:
        alert.resolved_at, alert.first_at, alert.notified_at = None, now, None
        audit.record(session, actor=None, action="alert.reopen", target=target or dedup_key,
                     after={"kind": kind, "message": message})
    alert.message, alert.severity, alert.last_at = message[:1024], severity, now
    alert.target, alert.target_type, alert.target_id = target, target_type, target_id
    return alert


def resolve_absent(session: Session, *, kind: str, still_present: set[str], now: datetime) -> int:
    """Resolve the open alerts of `kind` whose condition is gone; returns how many."""
    resolved = 0
    for alert in session.scalars(select(Alert).where(Alert.kind == kind, Alert.resolved_at.is_(None))):
        if alert.dedup_key not in still_present:
            alert.resolved_at = now
            audit.record(session, actor=None, action="alert.resolve", target=alert.target or alert.dedup_key)
            resolved += 1
    return resolved
