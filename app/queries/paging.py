"""One page of a listing: the rows, the total, and where the page sits, counted before any row is fetched.

Two ways to reach a page. `paginate` is the plain OFFSET pager. `seek_paginate` is a keyset (seek) pager: the rows
of a page are found by their sort key ("after this key, in this order"), so the expensive part of a page (its
joins and correlated counts) runs for the rows shown only, whatever the depth. A page is asked for by a cursor
(`after` / `before`: the opaque key of the row a page starts after or ends before, what the Next/Previous links
carry) or by number (`page`: the key of the row just before it is read from a lean, key-only query, then the page is
sought like a cursor). A cursor that does not decode raises `BadCursor` (the view shows the first page with 400).
"""
from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, func, literal, or_, select, tuple_
from sqlalchemy.orm import Session

Row = TypeVar("Row")
MAX_CURSOR_LENGTH = 2_000
# How many rows before a numbered page's first row are read to find where their leading sort value begins (rows tied
# on it further back are counted instead).
TIE_WINDOW = 50


class BadCursor(ValueError):
    """A page cursor that is not one this pager wrote (edited, truncated, or for another sort)."""


@dataclass
class Page(Generic[Row]):
    """The rows of page `page` (1-based) out of `total` rows shown `per_page` at a time.

    `offset` is how many rows come before the first one shown; keyset pages fill it from a count, and then carry
    `next_cursor` / `prev_cursor` for their links.
    """

    items: list[Row] = field(default_factory=list)
    total: int = 0
    page: int = 1
    per_page: int = 100
    offset: int | None = None
    next_cursor: str | None = None
    prev_cursor: str | None = None

    @property
    def keyset(self) -> bool:
        return self.next_cursor is not None or self.prev_cursor is not None

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def past_end(self) -> bool:
        """Whether the page asked for lies beyond the last page (an empty page 1 is not past the end)."""
        return self.page > self.pages

    @property
    def has_prev(self) -> bool:
        if self.offset is not None:
            return self.offset > 0 and self.prev_cursor is not None
        return 1 < self.page <= self.pages

    @property
    def has_next(self) -> bool:
        if self.offset is not None:
            return self.offset + len(self.items) < self.total and self.next_cursor is not None
        return self.page < self.pages

    @property
    def first_index(self) -> int:
        """The 1-based position of the first row shown (0 when nothing is shown)."""
        if not self.items:
            return 0
        return (self.offset if self.offset is not None else (self.page - 1) * self.per_page) + 1

    @property
    def last_index(self) -> int:
        return self.first_index + len(self.items) - 1 if self.items else 0


def paginate(
    session: Session,
    query: Select,
    page: int,
    per_page: int,
    *,
    count_query: Select | None = None,
    scalars: bool = True,
) -> Page[Any]:
    """Count the rows (with `count_query`, a lean select of the same rows, when given), then fetch page `page`.

    A page past the end fetches nothing, so a huge page number never reaches the database as an OFFSET.
    """
    counted = (count_query if count_query is not None else query).order_by(None).subquery()
    total = session.scalar(select(func.count()).select_from(counted)) or 0
    result = Page(total=total, page=page, per_page=per_page)
    if result.past_end or total == 0:
        return result
    paged = query.limit(per_page).offset((page - 1) * per_page)
    if scalars:
        result.items = list(session.scalars(paged).unique())
    else:
        result.items = list(session.execute(paged).unique())
    return result


# --- keyset (seek) pagination -------------------------------------------------------------------------------------

SortKey = tuple[ColumnElement, bool]  # (column, descending); the last key must be unique and not null (an id)


def encode_cursor(values: Sequence[Any]) -> str:
    """The opaque, URL-safe cursor of one row's sort key."""
    tagged = []
    for value in values:
        if isinstance(value, datetime):
            tagged.append(["d", value.isoformat()])
        elif isinstance(value, bool) or value is None:
            tagged.append(["b", value])
        elif isinstance(value, int):
            tagged.append(["i", value])
        else:
            tagged.append(["s", str(value)])
    raw = json.dumps(tagged, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, length: int) -> list[Any]:
    """The sort key a cursor holds; `BadCursor` unless it is a well-formed key of `length` values."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise BadCursor("the page cursor is too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        tagged = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise BadCursor("the page cursor is not one this list wrote") from error
    if not isinstance(tagged, list) or len(tagged) != length:
        raise BadCursor("the page cursor is for another sort order")
    values = []
    for item in tagged:
        if not (isinstance(item, list) and len(item) == 2 and item[0] in {"d", "b", "i", "s"}):
            raise BadCursor("the page cursor is not one this list wrote")
        kind, value = item
        try:
            if kind == "d":
                values.append(datetime.fromisoformat(value))
            elif kind == "i" and isinstance(value, int) and not isinstance(value, bool):
                values.append(value)
            elif kind == "s" and isinstance(value, str):
                values.append(value)
            elif kind == "b" and (value is None or isinstance(value, bool)):
                values.append(value)
            else:
                raise BadCursor("the page cursor is not one this list wrote")
        except (TypeError, ValueError) as error:
            raise BadCursor("the page cursor is not one this list wrote") from error
    if values[-1] is None:
        raise BadCursor("the page cursor is not one this list wrote")
    return values


def _bound(column: ColumnElement, value: Any) -> Any:
    """`value` ready to compare with `column`: a boolean key (SQLAlchemy orders no column against a bare True or
    False) as a bound literal of the column's type."""
    return literal(value, column.type) if isinstance(value, bool) else value


def _beyond(keys: Sequence[SortKey], values: Sequence[Any], backwards: bool = False) -> ColumnElement[bool]:
    """Rows strictly after the key `values` in the order `keys` (strictly before it when `backwards`).

    The expansion "a > x OR (a = x AND b > y) OR ..." is led by a redundant "a >= x" so that an index on the first
    key bounds the scan instead of filtering every row before the cursor. Sort keys are not null (NULLs would need
    their own ordering rules on each database). When every key runs the same way, a row-value comparison
    "(a, b, c) > (x, y, z)" says the same and bounds the index scan on the whole key (PostgreSQL and SQLite both seek
    with it), which matters when the first key has few values (the alerts list's unresolved-first flag).
    """
    if len({descending for _, descending in keys}) == 1:
        columns = tuple_(*(column for column, _ in keys))
        key = tuple_(*(literal(value, column.type) for (column, _), value in zip(keys, values)))
        return columns < key if keys[0][1] != backwards else columns > key
    branches = []
    for position, (column, descending) in enumerate(keys):
        value = _bound(column, values[position])
        step = column < value if descending != backwards else column > value
        branches.append(and_(*(key == _bound(key, earlier) for (key, _), earlier in zip(keys[:position], values)),
                             step))
    first, descending = keys[0]
    leading = _bound(first, values[0])
    bound = first <= leading if descending != backwards else first >= leading
    return and_(bound, or_(*branches))


def _ordered(keys: Sequence[SortKey], backwards: bool = False) -> list[ColumnElement]:
    return [column.desc() if descending != backwards else column.asc() for column, descending in keys]


def seek_paginate(
    session: Session,
    query: Select,
    keys: Sequence[SortKey],
    *,
    count_query: Select,
    per_page: int,
    page: int = 1,
    after: str | None = None,
    before: str | None = None,
    scalars: bool = True,
    key_query: Select | None = None,
) -> Page[Any]:
    """One page of `query` in the order `keys`: after the cursor `after`, before the cursor `before`, or page `page`.

    `count_query` is a lean select of the same rows (same FROM and filters, so the key columns are reachable from it):
    it counts the total, the rows before the page (the page's position), and finds the key a numbered page starts
    after (`key_query` instead, when given: the same rows with the joins every sort key needs; `count_query` must
    still reach the first key). Raises `BadCursor` for a cursor that does not decode.
    """
    total = session.scalar(select(func.count()).select_from(count_query.order_by(None).subquery())) or 0
    result = Page(total=total, page=page, per_page=per_page)
    if total == 0:
        result.page, result.offset = 1, 0
        return result
    backwards = False
    # The row's position travels in the cursor (display only: rows added or removed meanwhile shift it a little),
    # so no page counts the rows before it.
    position: int | None = (page - 1) * per_page
    if before:
        *key, position = _checked(keys, decode_cursor(before, len(keys) + 1))
        predicate, backwards = _beyond(keys, key, backwards=True), True
    elif after:
        *key, position = _checked(keys, decode_cursor(after, len(keys) + 1))
        predicate, position = _beyond(keys, key), position + 1
    elif page > 1:
        if result.past_end:
            return result
        previous = _key_at(session, count_query, key_query if key_query is not None else count_query, keys,
                           (page - 1) * per_page - 1)
        predicate = _beyond(keys, previous) if previous is not None else None
    else:
        predicate = None
    labelled = [column.label(f"seek_key_{index}") for index, (column, _) in enumerate(keys)]
    rows_query = query.add_columns(*labelled).order_by(None).order_by(*_ordered(keys, backwards)).limit(per_page + 1)
    if predicate is not None:
        rows_query = rows_query.where(predicate)
    rows = list(session.execute(rows_query).unique())
    more = len(rows) > per_page
    rows = rows[:per_page]
    if backwards:
        rows.reverse()
    width = len(keys)
    if not rows:
        # After the last row (an old cursor whose rows are gone): the position is the end of the list.
        result.offset, result.page = total, result.pages
        return result
    first_key, last_key = list(rows[0][-width:]), list(rows[-1][-width:])
    result.items = [row[0] if scalars else tuple(row[:-width]) for row in rows]
    if backwards:  # `position` is that of the row the page ends before
        position = 0 if not more else max(0, position - len(rows))
    result.offset = min(max(0, position), max(0, total - len(rows)))
    result.page = result.offset // per_page + 1
    has_next = more if not backwards else result.offset + len(rows) < total
    result.next_cursor = encode_cursor([*last_key, result.offset + len(rows) - 1]) if has_next else None
    result.prev_cursor = encode_cursor([*first_key, result.offset]) if result.offset > 0 or (
        backwards and more) else None
    return result


def _key_at(session: Session, count_query: Select, key_query: Select, keys: Sequence[SortKey],
            position: int) -> list[Any] | None:
    """The sort key of the row at 0-based `position`, without sorting every row by the whole key: the leading key's
    value there comes from an index in that column's order with the rows just before it (which show where its group
    begins, or else an indexed count of the rows before the group does), and
    only the group of rows sharing that value is sorted by the rest of the key."""
    key_columns = [column for column, _ in keys]
    if len(keys) <= 2:  # (column, id): one index serves the whole key
        row = session.execute(key_query.with_only_columns(*key_columns, maintain_column_froms=True)
                              .order_by(*_ordered(keys)).offset(position).limit(1)).first()
        return list(row) if row is not None else None
    leading, descending = keys[0]
    # The leading values of the rows just before `position` and of that row: its group's rows among them say how
    # many rows come before the group, unless the group reaches past the window (then they are counted).
    window = min(position, TIE_WINDOW)
    values = list(session.scalars(count_query.with_only_columns(leading, maintain_column_froms=True)
                                  .order_by(*_ordered(keys[:1])).offset(position - window).limit(window + 1)))
    if len(values) <= window:
        return None
    value = values[-1]
    tied_before = sum(1 for earlier_value in values[:-1] if earlier_value == value)
    if tied_before < window:
        before = position - tied_before
    else:
        bound = _bound(leading, value)
        earlier = count_query.where(leading > bound if descending else leading < bound).order_by(None).subquery()
        before = session.scalar(select(func.count()).select_from(earlier)) or 0
    row = session.execute(key_query.with_only_columns(*key_columns, maintain_column_froms=True)
                          .where(leading == _bound(leading, value)).order_by(*_ordered(keys))
                          .offset(position - before).limit(1)).first()
    return list(row) if row is not None else None


def _checked(keys: Sequence[SortKey], values: list[Any]) -> list[Any]:
    """The cursor's values if each has its sort column's Python type (and the position is a count); else BadCursor,
    so an edited cursor never reaches the database as a comparison of a text column with a number."""
    *key, position = values
    for (column, _), value in zip(keys, key):
        try:
            expected = column.type.python_type
        except NotImplementedError:
            continue
        if value is None or not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise BadCursor("the page cursor is for another sort order")
        if isinstance(value, datetime) and value.tzinfo is None:  # every timestamp column is UTC-aware
            raise BadCursor("the page cursor is not one this list wrote")
    if not isinstance(position, int) or isinstance(position, bool) or position < 0:
        raise BadCursor("the page cursor is not one this list wrote")
    return values
