"""Read models of DNS change sets: the list page and `flask dns change-sets`, the detail page with its diff."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from app.models import ChangeSet, ChangeSetItem

DIFF_FIELDS = ("content", "ttl", "proxied", "comment", "tags")
OWNER_MARK = re.compile(r"admin-panel change set #(\d+)")


@dataclass(frozen=True)
class ChangeSetRow:
    change_set: ChangeSet
    items: int


@dataclass(frozen=True)
class DiffLine:
    """One row of the diff: what the record was, what it becomes, and which fields differ."""

    item: ChangeSetItem
    changed: tuple[str, ...]

    @property
    def made_by(self) -> int | None:
        """The change set that created the record (its ownership comment), None for a foreign record."""
        match = OWNER_MARK.search((self.item.before or {}).get("comment") or "")
        return int(match.group(1)) if match else None

    def value(self, snapshot: dict[str, Any] | None, field: str) -> str:
        if snapshot is None:
            return ""
        value = snapshot.get(field)
        if field == "tags":
            return ", ".join(value or [])
        if field == "ttl" and value == 1:
            return "auto"
        return "" if value is None else str(value)


def recent(session: Session, limit: int = 50, offset: int = 0) -> list[ChangeSetRow]:
    """Change sets, newest first, with how many rows each holds."""
    counts = (select(ChangeSetItem.change_set_id, func.count(ChangeSetItem.id).label("items"))
              .group_by(ChangeSetItem.change_set_id).subquery())
    rows = session.execute(
        select(ChangeSet, func.coalesce(counts.c["items"], 0)).outerjoin(counts, counts.c.change_set_id == ChangeSet.id)
        .order_by(ChangeSet.id.desc()).limit(limit).offset(offset)).all()
    return [ChangeSetRow(change_set, items) for change_set, items in rows]


def total(session: Session) -> int:
    return session.scalar(select(func.count(ChangeSet.id))) or 0


def detail(session: Session, change_set_id: int) -> ChangeSet | None:
    """One change set with its rows (and the set it rolls back)."""
    return session.scalar(select(ChangeSet).where(ChangeSet.id == change_set_id)
                          .options(selectinload(ChangeSet.items), selectinload(ChangeSet.rollback_of)))


def diff(change_set: ChangeSet) -> list[DiffLine]:
    """The diff of every row, in apply order."""
    lines = []
    for item in change_set.items:
        before, after = item.before or {}, item.after or {}
        if item.action == "update":
            changed = tuple(field for field in DIFF_FIELDS if before.get(field) != after.get(field))
        else:
            changed = DIFF_FIELDS
        lines.append(DiffLine(item, changed))
    return lines


def rollback_of(session: Session, change_set: ChangeSet) -> ChangeSet | None:
    """The rollback made of this set, if any (newest)."""
    return session.scalar(select(ChangeSet).where(ChangeSet.rollback_of_id == change_set.id)
                          .order_by(ChangeSet.id.desc()))


def plan_line(item: ChangeSetItem) -> str:
    """One line of a plan as the CLI prints it."""
    before, after = item.before or {}, item.after or {}
    if item.action == "update":
        return f"update {item.record_type} {item.record_name}: {before.get('content')} → {after.get('content')}"
    if item.action == "create":
        return f"create {item.record_type} {item.record_name}: {after.get('content')}"
    return f"delete {item.record_type} {item.record_name}: {before.get('content')}"
