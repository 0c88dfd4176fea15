"""The distinct values of an indexed column, read by walking its index instead of every row."""
from __future__ import annotations

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

CHOICES_LIMIT = 500  # more distinct values than this is not a select list any more


def distinct_values(session: Session, column: ColumnElement, *where: ColumnElement[bool],
                    limit: int = CHOICES_LIMIT) -> list:
    """The distinct non-null values of `column` among the rows `where` selects, smallest first.

    A recursive "next value greater than the last" costs one index probe per distinct value (on an index that
    starts with the `where` equality columns, then `column`), where SELECT DISTINCT reads every row: a list of
    20,000 instances has two regions, a zone of 20,000 records four types.
    """
    walk = select(func.min(column).label("value")).where(*where).cte("walk", recursive=True)
    following = select(func.min(column)).where(*where, column > walk.c.value).scalar_subquery()
    walk = walk.union_all(select(following.label("value")).where(walk.c.value.is_not(None)))
    return list(session.scalars(select(walk.c.value).where(walk.c.value.is_not(None)).limit(limit)))
