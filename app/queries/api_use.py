"""What developers did through `/api/v1`, from the audit log: who (their Deis user), what (action and app), when."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import AuditEvent
from app.queries.paging import Page, paginate

DEVELOPER_ACTOR_PREFIX = "deis:"  # how the API names a developer in the audit log (Developer.actor)
PER_PAGE = 50


@dataclass(frozen=True)
class DeveloperUse:
    username: str
    events: int
    last_at: datetime


def _api_events(username: str | None, action: str | None):
    query = select(AuditEvent).where(AuditEvent.actor.startswith(DEVELOPER_ACTOR_PREFIX, autoescape=True))
    if username:
        query = query.where(AuditEvent.actor == DEVELOPER_ACTOR_PREFIX + username)
    if action:
        query = query.where(AuditEvent.action == action)
    return query


def api_use_page(session: Session, page: int, *, username: str | None = None,
                 action: str | None = None) -> Page[AuditEvent]:
    """The API's audit events, newest first, optionally of one developer and one action."""
    query = _api_events(username, action).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    return paginate(session, query, page, PER_PAGE)


def developers(session: Session) -> list[DeveloperUse]:
    """Every developer who used the API: how many changes, and when last, most recent first."""
    rows = session.execute(
        select(AuditEvent.actor, func.count(AuditEvent.id), func.max(AuditEvent.at))
        .where(AuditEvent.actor.startswith(DEVELOPER_ACTOR_PREFIX, autoescape=True))
        .group_by(AuditEvent.actor).order_by(func.max(AuditEvent.at).desc())
    ).all()
    return [DeveloperUse(actor.removeprefix(DEVELOPER_ACTOR_PREFIX), count, last) for actor, count, last in rows]


def actions(session: Session) -> list[str]:
    """The actions developers have taken through the API (for the filter)."""
    return list(session.scalars(
        select(AuditEvent.action).where(AuditEvent.actor.startswith(DEVELOPER_ACTOR_PREFIX, autoescape=True))
        .distinct().order_by(AuditEvent.action)))
