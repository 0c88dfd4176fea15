"""The alerts page: alerts by state and kind with their deliveries, and the alerting settings as they may be shown."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from app.config import Settings
from app.models import Alert, AlertDelivery
from app.queries.paging import Page, seek_paginate
from app.services.notify import mask_smtp_url, mask_webhook_url

ALERT_STATES = ("open", "acknowledged", "resolved")
ALERT_KINDS = ("maintenance_event", "certificate_expiry", "sync_failing", "operation_stuck", "restore_drill_failed",
               "job_queued_too_long", "job_running_too_long")
PER_PAGE = 50


def _in_state(query: Select, state: str | None) -> Select:
    # Resolved or not on the list's leading sort key, so its indexes bound the rows of a state.
    if state == "open":
        return query.where(Alert.list_unresolved, Alert.acknowledged_at.is_(None))
    if state == "acknowledged":
        return query.where(Alert.list_unresolved, Alert.acknowledged_at.is_not(None))
    if state == "resolved":
        return query.where(~Alert.list_unresolved)
    return query


def alert_page(session: Session, kind: str | None, state: str | None, page: int = 1, per_page: int = PER_PAGE, *,
               after: str | None = None, before: str | None = None) -> Page[Alert]:
    """Alerts of `kind` in `state` (any when None), unresolved ones first, newest first, with their deliveries.

    Keyset-paged like the other lists: page `page`, or the page after / before a cursor of a Next / Previous link
    (`BadCursor` when it does not decode).
    """
    def narrowed(query: Select) -> Select:
        query = _in_state(query, state)
        return query.where(Alert.kind == kind) if kind else query

    keys = [(Alert.list_unresolved, True), (Alert.last_at, True), (Alert.id, True)]
    return seek_paginate(session, narrowed(select(Alert).options(selectinload(Alert.deliveries))), keys,
                         count_query=narrowed(select(Alert.id)), per_page=per_page, page=page, after=after,
                         before=before)


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
