"""Declarative base and the column types every model shares."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import DDL, JSON, Connection, DateTime, Index, MetaData, TypeDecorator, event
from sqlalchemy.orm import DeclarativeBase, registry

# Stable constraint names so migrations are identical on SQLite (batch mode) and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(timezone.utc)


class UtcDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type:
        return datetime  # (TypeDecorator says `object`): what a keyset cursor's value is checked against

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UtcDateTime(), dict: JSON, list: JSON},
    )


def trigram_available(connection: Connection) -> bool:
    """Whether this database can have pg_trgm indexes (PostgreSQL with the extension shipped)."""
    if connection.dialect.name != "postgresql":
        return False
    return connection.exec_driver_sql("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'").scalar() == 1


def _trigram_ddl(ddl, target, bind, **kwargs) -> bool:
    return trigram_available(bind)


def trigram_index(table: str, column: str) -> Index:
    """A pg_trgm GIN index serving `ILIKE '%text%'` searches; only where pg_trgm exists (not SQLite)."""
    return Index(f"ix_{table}_{column}_trgm", column, postgresql_using="gin",
                 postgresql_ops={column: "gin_trgm_ops"}).ddl_if(callable_=_trigram_ddl)


event.listen(Base.metadata, "before_create",
             DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(callable_=_trigram_ddl))
