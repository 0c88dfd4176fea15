"""One page of a listing: the rows, the total, and where the page sits, counted before any row is fetched."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

Row = TypeVar("Row")


@dataclass
class Page(Generic[Row]):
    """The rows of page `page` (1-based) out of `total` rows shown `per_page` at a time."""

    items: list[Row] = field(default_factory=list)
    total: int = 0
    page: int = 1
    per_page: int = 100

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def past_end(self) -> bool:
        """Whether the page asked for lies beyond the last page (an empty page 1 is not past the end)."""
        return self.page > self.pages

    @property
    def has_prev(self) -> bool:
        return 1 < self.page <= self.pages

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def first_index(self) -> int:
        """The 1-based position of the first row shown (0 when nothing is shown)."""
        return (self.page - 1) * self.per_page + 1 if self.items else 0

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
