"""Case-insensitive "contains" matching, spelled so PostgreSQL can answer it from trigram indexes."""
from __future__ import annotations

import re

from sqlalchemy import ColumnElement, and_
from sqlalchemy.orm import InstrumentedAttribute

ESCAPE = "\\"
# Characters no case mapping produces or changes (digits and some ASCII punctuation; not the LIKE wildcards): a run of
# them in the text must appear literally in every value the case-insensitive match accepts.
CASELESS_RUN = re.compile(r"[0-9\-.:/@]{2,}")


def _escaped(text: str) -> str:
    return text.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")


def contains_text(column: InstrumentedAttribute | ColumnElement, text: str) -> ColumnElement[bool]:
    """`column` contains `text`, in any case. ILIKE on the bare column is what a pg_trgm GIN index serves.

    ILIKE folds the case of every value it reads, several times the cost of a plain LIKE; when the text holds a run
    of caseless characters (`-0123` of `app-0123`), a LIKE on that run first rejects most values cheaply. It only
    narrows: the rows matched are exactly the ILIKE's.
    """
    match = column.ilike(f"%{_escaped(text)}%", escape=ESCAPE)
    runs = CASELESS_RUN.findall(text)
    if not runs:
        return match
    return and_(column.like(f"%{_escaped(max(runs, key=len))}%", escape=ESCAPE), match)
