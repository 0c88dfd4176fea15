"""dbapi's own tables, created at start by every process (web and worker alike), safe when many start at once.

`create_schema(engine, metadata)` creates the tables and indexes that are missing and leaves the others alone. A
plain `create_all` checks then creates, so two processes starting together on a fresh database both see "no table"
and one dies on "table databases already exists". Here the check and the creation run under one lock:

- PostgreSQL: a transaction-level advisory lock taken in the transaction that creates the tables. PostgreSQL's DDL
  is transactional, so the next process gets the lock only once the tables are committed, sees them, and creates
  nothing. It holds across machines: every process that reaches the database takes the same lock.
- SQLite (a file, hence one machine): an exclusive file lock next to the database file (`<file>.schema.lock`, with
  the `flock` helper of localredis: released by the kernel if its holder dies).
- In-memory SQLite: private to its process; nothing to serialise.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import MetaData, text
from sqlalchemy.engine import Engine

# A fixed 64-bit key for pg_advisory_xact_lock, derived from a name so that it says what it locks.
SCHEMA_LOCK_KEY = int.from_bytes(hashlib.sha256(b"dbapi.schema").digest()[:8], "big", signed=True)
SQLITE_LOCK_SUFFIX = ".schema.lock"


def create_schema(engine: Engine, metadata: MetaData) -> None:
    """Create what `metadata` declares and the database lacks, serialised with every other process doing the same."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
            metadata.create_all(connection)  # checks what exists after the lock: sees what the previous holder made
        return
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        metadata.create_all(engine)  # in-memory (or another database): nothing shared on this machine to lock
        return
    import localredis  # its flock helper only: no server is started

    path = Path(database).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    with localredis.locked(path.parent, path.name + SQLITE_LOCK_SUFFIX):
        metadata.create_all(engine)
