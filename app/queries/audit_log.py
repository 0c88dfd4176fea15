"""The audit log as the page and its CSV export read it: filters, the choices they offer, readable changes."""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import Select, String, cast, or_, select
from sqlalchemy.orm import Session

from app.models import AuditEvent, Database
from app.queries import index_walk
from app.queries.paging import Page, seek_paginate
from app.redaction import MASK, redact

PER_PAGE = 50
# Routine session events: hidden unless asked for, so the changes people made are not lost among them. A wrong
# password at a re-authentication prompt is not routine and stays visible.
SIGN_IN_ACTIONS = ("auth.sign_in", "auth.sign_out", "auth.reauth")
CHOICES_LIMIT = 500  # more distinct actors or actions than this is not a select list any more
CSV_BATCH = 500


@dataclass(frozen=True)
class AuditFilters:
    """What the audit log page shows: all filters are optional; sign-ins are left out unless `sign_ins`."""

    actor: str | None = None
    action: str | None = None  # an exact action, or a group ending in "." ("user.")
    since: date | None = None  # first day shown (UTC)
    until: date | None = None  # last day shown (UTC), inclusive
    q: str = ""
    target: str = ""  # part of the target's name (links from other pages)
    sign_ins: bool = False

    @property
    def active(self) -> bool:
        return bool(self.actor or self.action or self.since or self.until or self.q or self.target)

    def params(self) -> dict[str, str]:
        """The filters written back as query parameters (only those in use)."""
        values = {"actor": self.actor, "action": self.action, "since": self.since and self.since.isoformat(),
                  "until": self.until and self.until.isoformat(), "q": self.q, "target": self.target,
                  "sign_ins": "yes" if self.sign_ins else None}
        return {key: value for key, value in values.items() if value}


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


# Newest first; the id orders events of one instant. Each filter has its index (app/models/audit.py).
EVENT_KEYS = [(AuditEvent.at, True), (AuditEvent.id, True)]


def filtered_events(filters: AuditFilters) -> Select:
    """The events matching `filters`, newest first."""
    return _filtered(select(AuditEvent), filters).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())


def _filtered(query: Select, filters: AuditFilters) -> Select:
    if filters.actor:
        query = query.where(AuditEvent.actor == filters.actor)
    if filters.action and filters.action.endswith("."):
        query = query.where(AuditEvent.action.startswith(filters.action, autoescape=True))
    elif filters.action:
        query = query.where(AuditEvent.action == filters.action)
    explicitly_auth = bool(filters.action and filters.action.startswith("auth."))
    if not filters.sign_ins and not explicitly_auth:
        query = query.where(AuditEvent.action.not_in(SIGN_IN_ACTIONS))
    if filters.since:
        query = query.where(AuditEvent.at >= _day_start(filters.since))
    if filters.until:
        query = query.where(AuditEvent.at < _day_start(filters.until + timedelta(days=1)))
    if filters.target:
        query = query.where(AuditEvent.target.icontains(filters.target, autoescape=True))
    if filters.q:
        query = query.where(or_(*(column.icontains(filters.q, autoescape=True) for column in (
            AuditEvent.actor, AuditEvent.action, AuditEvent.target, AuditEvent.request_id,
            cast(AuditEvent.before, String), cast(AuditEvent.after, String),
        ))))
    return query


def audit_page(session: Session, filters: AuditFilters, page: int = 1, per_page: int = PER_PAGE, *,
               after: str | None = None, before: str | None = None) -> Page[AuditEvent]:
    """One page of matching events, newest first: page `page`, or the page after / before a cursor of a Next /
    Previous link (keyset-paged; `BadCursor` when the cursor does not decode)."""
    return seek_paginate(session, _filtered(select(AuditEvent), filters), EVENT_KEYS,
                         count_query=_filtered(select(AuditEvent.id), filters), per_page=per_page, page=page,
                         after=after, before=before)


def events_for_export(session: Session, filters: AuditFilters) -> Iterator[AuditEvent]:
    """Every matching event, newest first, fetched in batches (memory stays flat however many there are)."""
    yield from session.scalars(filtered_events(filters).execution_options(yield_per=CSV_BATCH))


def distinct_values(session: Session, column_name: str, limit: int = CHOICES_LIMIT) -> list[str]:
    """The distinct values of an indexed column, smallest first, by walking its index one value at a time (the
    log holds millions of events but a few dozen actors and actions)."""
    return index_walk.distinct_values(session, AuditEvent.__table__.c[column_name], limit=limit)


@dataclass(frozen=True)
class FilterChoices:
    actors: list[str]
    actions: list[str]
    groups: list[str] = field(default_factory=list)  # "user.", "auth." ...: every action of one kind


def filter_choices(session: Session) -> FilterChoices:
    """The actors and actions the select lists offer (the ones the log holds)."""
    actions = distinct_values(session, "action")
    groups = sorted({action.split(".", 1)[0] + "." for action in actions if "." in action})
    return FilterChoices(actors=distinct_values(session, "actor"), actions=actions, groups=groups)


# -- a change, readable -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FieldChange:
    """One field of an event: `before` → `after` (None where the event has no such side)."""

    field: str
    before: str | None
    after: str | None

    @property
    def kind(self) -> str:
        if self.before is None:
            return "set"
        if self.after is None:
            return "removed"
        if self.before == self.after == MASK:
            return "secret"
        return "changed"


def _flatten(payload: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(payload, dict):
        flat: dict[str, Any] = {}
        for key, value in payload.items():
            flat.update(_flatten(value, f"{prefix}{key}."))
        return flat if flat or not prefix else {prefix[:-1]: {}}
    return {prefix[:-1] if prefix else "value": payload}


def readable_value(value: Any) -> str:
    """A field value as a person reads it."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        if all(not isinstance(item, (dict, list)) for item in value):
            return ", ".join(readable_value(item) for item in value) or "none"
        return json.dumps(value, sort_keys=True)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True) if value else "none"
    return str(value)


def field_changes(before: dict | None, after: dict | None) -> list[FieldChange]:
    """The fields an event changed, in the order it recorded them, secrets masked; unchanged fields left out."""
    # Compared as stored (a changed secret is a change even though both sides read "••••••"), shown masked again:
    # the rules may have learnt about a secret since the event was written.
    old_raw = _flatten(before) if isinstance(before, dict) else {}
    new_raw = _flatten(after) if isinstance(after, dict) else {}
    old = _flatten(redact(before)) if isinstance(before, dict) else {}
    new = _flatten(redact(after)) if isinstance(after, dict) else {}
    changes = []
    for name in list(old) + [name for name in new if name not in old]:
        if name in old and name in new and old_raw.get(name) == new_raw.get(name) and old_raw.get(name) != MASK:
            continue  # unchanged (two masks say nothing: the log kept no value of that secret to compare)
        changes.append(FieldChange(name, readable_value(old[name]) if name in old else None,
                                   readable_value(new[name]) if name in new else None))
    return changes


def change_summary(event: AuditEvent) -> str:
    """The readable change as one line ("role: viewer → admin; disabled: set to yes"), for the CSV export."""
    parts = []
    for change in field_changes(event.before, event.after):
        if change.kind == "set":
            parts.append(f"{change.field}: {change.after}")
        elif change.kind == "removed":
            parts.append(f"{change.field}: {change.before} (removed)")
        elif change.kind == "secret":
            parts.append(f"{change.field}: {MASK} (secret)")
        else:
            parts.append(f"{change.field}: {change.before} → {change.after}")
    return "; ".join(parts)


def database_apps(session: Session, events: list[AuditEvent]) -> dict[str, int]:
    """The app of each database the events are about (their pages live under the app), by database id."""
    ids = {int(event.target_id) for event in events
           if event.target_type == "databases" and (event.target_id or "").isdigit()}
    if not ids:
        return {}
    rows = session.execute(select(Database.id, Database.app_id).where(Database.id.in_(ids)))
    return {str(database_id): app_id for database_id, app_id in rows if app_id is not None}


def masked_json(event: AuditEvent) -> str | None:
    """The event's raw before/after, secrets masked, for the page's "JSON" disclosure (None when it has neither)."""
    if event.before is None and event.after is None:
        return None
    return json.dumps({"before": redact(event.before), "after": redact(event.after)}, indent=2, sort_keys=True,
                      default=str)
