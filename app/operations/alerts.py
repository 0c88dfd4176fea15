"""Alerts: raised once per dedup key, kept fresh while the condition lasts, resolved when it goes away, and
delivered to every channel once per notice (raised, changed, resolved), each attempt recorded per channel."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app import audit
from app.models import Alert, AlertDelivery
from app.redaction import redact_text
from app.services.notify import Channel, Notification, NotifyError

NOTICE_RAISED, NOTICE_CHANGED, NOTICE_RESOLVED = "raised", "changed", "resolved"
UNDELIVERED = ("pending", "failed")


class AlertActionError(RuntimeError):
    """An alert action that cannot be done (acknowledging a resolved alert, say)."""


def _notify(alert: Alert, notice: str) -> None:
    """Queue `notice` for every channel; what was still undelivered of an older notice is superseded by it."""
    for delivery in alert.deliveries:
        if delivery.state in UNDELIVERED:
            delivery.state = "superseded"
    alert.pending_notice = notice


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
    details: dict | None = None,
    revision: str | None = None,
) -> Alert:
    """Open an alert, or refresh the open one with the same key (a resolved one reopens).

    A new or reopened alert is notified; an open one is notified again only when its `revision` (what the
    notification is about, e.g. a maintenance window) changed.
    """
    alert = session.scalar(select(Alert).where(Alert.dedup_key == dedup_key))
    if alert is None:
        alert = Alert(kind=kind, dedup_key=dedup_key, first_at=now, deliveries=[])
        session.add(alert)
        audit.record(session, actor=None, action="alert.raise", target=target or dedup_key,
                     after={"kind": kind, "message": message})
        _notify(alert, NOTICE_RAISED)
    elif alert.resolved_at is not None:
        alert.resolved_at, alert.first_at, alert.notified_at = None, now, None
        alert.acknowledged_at = alert.acknowledged_by = None  # a new occurrence needs a new look
        audit.record(session, actor=None, action="alert.reopen", target=target or dedup_key,
                     after={"kind": kind, "message": message})
        _notify(alert, NOTICE_RAISED)
    elif revision is not None and alert.revision is not None and revision != alert.revision:
        audit.record(session, actor=None, action="alert.change", target=target or dedup_key,
                     before={"revision": alert.revision}, after={"revision": revision, "message": message})
        # Not delivered yet: the first notification simply says the new thing.
        _notify(alert, NOTICE_RAISED if alert.pending_notice == NOTICE_RAISED else NOTICE_CHANGED)
    alert.message, alert.severity, alert.last_at = message[:1024], severity, now
    alert.target, alert.target_type, alert.target_id = target, target_type, target_id
    alert.details, alert.revision = details, revision
    return alert


def resolve(session: Session, alert: Alert, now: datetime, *, notify: bool = True) -> None:
    """Resolve one alert; with `notify`, channels hear about it if they heard about the alert at all."""
    alert.resolved_at = now
    audit.record(session, actor=None, action="alert.resolve", target=alert.target or alert.dedup_key)
    told = alert.notified_at is not None or any(d.state == "delivered" for d in alert.deliveries)
    _notify(alert, NOTICE_RESOLVED)
    if not (notify and told):
        alert.pending_notice = None  # nobody was told it began (or it is superseded): nothing to tell


def resolve_absent(session: Session, *, kind: str, still_present: set[str], now: datetime,
                   notify: bool = True) -> int:
    """Resolve the open alerts of `kind` whose condition is gone; returns how many."""
    resolved = 0
    for alert in session.scalars(select(Alert).where(Alert.kind == kind, Alert.resolved_at.is_(None))
                                 .options(selectinload(Alert.deliveries))):
        if alert.dedup_key not in still_present:
            resolve(session, alert, now, notify=notify)
            resolved += 1
    return resolved


def acknowledge(session: Session, alert: Alert, *, actor, now: datetime) -> None:
    """Mark an open alert as seen by `actor` (audited); its notifications go on as before."""
    if alert.resolved_at is not None:
        raise AlertActionError("This alert is already resolved: there is nothing to acknowledge.")
    if alert.acknowledged_at is not None:
        raise AlertActionError(f"{alert.acknowledged_by} already acknowledged this alert.")
    alert.acknowledged_at, alert.acknowledged_by = now, getattr(actor, "username", None) or str(actor)
    audit.record(session, actor=actor, action="alert.acknowledge", target=alert.target or alert.dedup_key,
                 after={"kind": alert.kind, "message": alert.message})
    session.commit()


# -- delivery ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeliveryOutcome:
    """What one channel did with one notice of one alert in this run."""

    alert_id: int
    title: str
    notice: str
    channel: str
    delivered: bool
    attempts: int
    error: str | None = None


def notification_for(alert: Alert) -> Notification:
    """The notification an alert's pending notice sends."""
    details = alert.details or {}
    title = details.get("title") or alert.message
    lines = tuple(details.get("lines") or ())
    if alert.pending_notice == NOTICE_RESOLVED:
        return Notification(title=f"Resolved: {title}", lines=lines, resolved=True, severity=alert.severity)
    if alert.pending_notice == NOTICE_CHANGED:
        return Notification(title=f"Changed: {title}", lines=lines, severity=alert.severity)
    return Notification(title=title, lines=lines, severity=alert.severity)


def _delivery(alert: Alert, channel: Channel) -> AlertDelivery:
    for delivery in alert.deliveries:
        if (delivery.channel == channel.key and delivery.notice == alert.pending_notice
                and delivery.revision == alert.revision and delivery.state != "superseded"):
            return delivery
    delivery = AlertDelivery(notice=alert.pending_notice, revision=alert.revision, channel=channel.key,
                             channel_label=channel.label[:255], state="pending", attempts=0)
    alert.deliveries.append(delivery)
    return delivery


def deliver_pending(session: Session, channels: Sequence[Channel], now: datetime) -> list[DeliveryOutcome]:
    """Send every pending notice to every channel not yet reached; failures stay pending for the next run."""
    outcomes: list[DeliveryOutcome] = []
    alerts = session.scalars(select(Alert).where(Alert.pending_notice.is_not(None)).order_by(Alert.id)
                             .options(selectinload(Alert.deliveries))).all()
    for alert in alerts:
        notification = notification_for(alert)
        reached = True
        for channel in channels:
            delivery = _delivery(alert, channel)
            if delivery.state == "delivered":
                continue
            delivery.last_attempt_at = now
            try:
                attempts = channel.send(notification)
            except NotifyError as error:
                reached = False
                delivery.state, delivery.attempts = "failed", delivery.attempts + error.attempts
                delivery.last_error = redact_text(str(error))
                outcomes.append(DeliveryOutcome(alert.id, notification.title, delivery.notice, channel.label,
                                                False, error.attempts, delivery.last_error))
            else:
                delivery.state, delivery.attempts = "delivered", delivery.attempts + attempts
                delivery.delivered_at, delivery.last_error = now, None
                outcomes.append(DeliveryOutcome(alert.id, notification.title, delivery.notice, channel.label,
                                                True, attempts))
        if reached:  # with no channel configured there is nobody to tell: the alert stays on the page only
            alert.pending_notice = None
            if channels:
                alert.notified_at = now
        session.commit()  # per alert: a crash later in the run must not send these again
    return outcomes
