"""Case-insensitive "contains" matching, spelled so PostgreSQL can answer it from trigram indexes."""
from __future__ import annotations

from sqlalchemy import ColumnElement
from sqlalchemy.orm import InstrumentedAttribute

ESCAPE = "\\"


def contains_text(column: InstrumentedAttribute | ColumnElement, text: str) -> ColumnElement[bool]:
    """`column` contains `text`, in any case. ILIKE on the bare column is what a pg_trgm GIN index serves."""
    escaped = text.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")
    return column.ilike(f"%{escaped}%", escape=ESCAPE)
