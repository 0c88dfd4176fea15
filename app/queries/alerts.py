"""The alerts page: alerts by state and kind with their deliveries, and the alerting settings as they may be shown."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from app.config import Settings
from app.models import Alert, AlertDelivery
from app.queries.paging import Page, paginate
from app.services.notify import mask_smtp_url, mask_webhook_url

ALERT_STATES = ("open", "acknowledged", "resolved")
ALERT_KINDS = ("maintenance_event", "certificate_expiry", "sync_failing", "operation_stuck", "restore_drill_failed",
               "job_queued_too_long", "job_running_too_long")
PER_PAGE = 50


def _in_state(query: Select, state: str | None) -> Select:
    if state == "open":
        return query.where(Alert.resolved_at.is_(None), Alert.acknowledged_at.is_(None))
    if state == "acknowledged":
        return query.where(Alert.resolved_at.is_(None), Alert.acknowledged_at.is_not(None))
    if state == "resolved":
        return query.where(Alert.resolved_at.is_not(None))
    return query


def alert_page(session: Session, kind: str | None, state: str | None, page: int) -> Page[Alert]:
    """Alerts of `kind` in `state` (any when None), open ones first, newest first, with their deliveries."""
    query = _in_state(select(Alert), state)
    if kind:
        query = query.where(Alert.kind == kind)
    query = query.order_by(Alert.resolved_at.is_not(None), Alert.last_at.desc(), Alert.id.desc())
    return paginate(session, query.options(selectinload(Alert.deliveries)), page, PER_PAGE)


def state_counts(session: Session) -> dict[str, int]:
    """How many alerts are open, acknowledged and resolved."""
    return {state: session.scalar(_in_state(select(func.count()).select_from(Alert), state)) or 0
            for state in ALERT_STATES}


def failed_deliveries(session: Session, limit: int = 20) -> tuple[list[AlertDelivery], int]:
    """Deliveries that failed and wait for the next run (the first `limit`), and how many there are."""
    failed = AlertDelivery.state == "failed"
    rows = list(session.scalars(select(AlertDelivery).where(failed).options(selectinload(AlertDelivery.alert))
                                .order_by(AlertDelivery.last_attempt_at.desc()).limit(limit)))
    return rows, session.scalar(select(func.count()).select_from(AlertDelivery).where(failed)) or 0


@dataclass(frozen=True)
class AlertingSettings:
    """Thresholds and channels for the settings page: webhook paths and the SMTP password masked."""

    cert_alert_days: tuple[int, ...]
    webhooks: tuple[str, ...]
    smtp: str | None
    email_to: tuple[str, ...]
    email_from: str


def alerting_settings(settings: Settings) -> AlertingSettings:
    """What the panel alerts on and where it sends it, safe to show to any signed-in user."""
    return AlertingSettings(
        cert_alert_days=settings.cert_alert_days,
        webhooks=tuple(mask_webhook_url(url) for url in settings.alert_webhook_urls),
        smtp=mask_smtp_url(settings.smtp_url) if settings.smtp_url else None,
        email_to=settings.alert_email_to,
        email_from=settings.alert_email_from,
    )
