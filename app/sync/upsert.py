"""Bulk upserts that write only the rows that changed, and sweeps of what the source no longer has."""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

CHUNK = 500
# Rows per INSERT statement of a chunk. SQLAlchemy joins the rows of an executemany into one multi-VALUES
# statement; psycopg then converts its placeholders with a regular expression over the whole text, uncached past
# 4 KB, and that conversion cost more than PostgreSQL's work (py-spy of the sync benchmark: 40% of the DNS write).
# Smaller statements measured 1.9 s -> 1.1 s for 6,000 DNS records (bench, docs/performance.md).
INSERT_PAGE = 100


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0

    def __iadd__(self, other: Counts) -> Counts:
        self.created += other.created
        self.updated += other.updated
        self.deleted += other.deleted
        self.unchanged += other.unchanged
        return self

    @property
    def written(self) -> int:
        return self.created + self.updated + self.deleted


@dataclass
class UpsertResult:
    counts: Counts
    ids: dict[Hashable, int]  # key -> primary key of every row now matching the source
    stale_ids: list[int]  # rows in scope that the source no longer has
    existing: int = 0  # rows the scope had before: what the mass-deletion guard measures stale rows against


def upsert(
    session: Session,
    model: type,
    key: Callable[[dict[str, Any]], Hashable],
    desired: Iterable[dict[str, Any]],
    existing_scope: Sequence[Any],
    *,
    insert_only: dict[str, Any] | None = None,
) -> UpsertResult:
    """Make the rows of `model` within `existing_scope` (WHERE clauses) match `desired`, writing only differences.

    `key(row)` identifies a row among desired and existing ones. Columns in `insert_only` are set on new rows and
    never overwritten (panel-owned fields, first-seen times). Rows of the scope missing from `desired` are returned
    as `stale_ids` for the caller to sweep once the fetch is known to be complete.
    """
    desired_by_key: dict[Hashable, dict[str, Any]] = {}
    for row in desired:
        desired_by_key[key(row)] = row
    if not desired_by_key:
        # Nothing to match (and no columns to build keys from): every row of the scope is stale.
        stale_ids = list(session.scalars(select(model.id).where(*existing_scope)))
        return UpsertResult(counts=Counts(), ids={}, stale_ids=stale_ids, existing=len(stale_ids))
    columns = sorted({column for row in desired_by_key.values() for column in row})
    table_columns = [getattr(model, column) for column in columns]
    existing: dict[Hashable, tuple[int, dict[str, Any]]] = {}
    for record in session.execute(select(model.id, *table_columns).where(*existing_scope)):
        values = dict(zip(columns, record[1:]))
        existing[key(values)] = (record[0], values)

    counts = Counts()
    inserts, updates, ids = [], [], {}
    for row_key, row in desired_by_key.items():
        found = existing.get(row_key)
        if found is None:
            inserts.append({**(insert_only or {}), **row})
            continue
        row_id, current = found
        ids[row_key] = row_id
        if any(_differs(current.get(column), value) for column, value in row.items()):
            updates.append({"id": row_id, **row})
        else:
            counts.unchanged += 1
    for start in range(0, len(inserts), CHUNK):
        chunk = inserts[start:start + CHUNK]
        statement = insert(model).returning(model.id, sort_by_parameter_order=True)
        new_ids = session.scalars(statement.execution_options(insertmanyvalues_page_size=INSERT_PAGE), chunk).all()
        for row, new_id in zip(chunk, new_ids):
            ids[key(row)] = new_id
    for start in range(0, len(updates), CHUNK):
        session.execute(update(model), updates[start:start + CHUNK])
    counts.created, counts.updated = len(inserts), len(updates)
    stale = [row_id for row_key, (row_id, _) in existing.items() if row_key not in desired_by_key]
    return UpsertResult(counts=counts, ids=ids, stale_ids=stale, existing=len(existing))


def sweep(session: Session, model: type, ids: Sequence[int]) -> int:
    """Delete these rows (in chunks); returns how many."""
    for start in range(0, len(ids), CHUNK):
        session.execute(delete(model).where(model.id.in_(ids[start:start + CHUNK])))
    return len(ids)


def _differs(current: Any, wanted: Any) -> bool:
    if current is None or wanted is None:
        return current is not wanted
    return current != wanted
