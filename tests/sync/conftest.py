"""Sync tests run the real synchronizers against the sandbox simulators, on the suite's database and Redis."""
from __future__ import annotations

import pytest
from redis import Redis
from sqlalchemy import event

from app.clients import PlatformClients
from app.config import Settings
from app.extensions import db
from app.queues import redis_url
from app.sync import runner
from app.sync.locks import redis_locks


@pytest.fixture
def clients(sandbox, settings) -> PlatformClients:
    environ = {"ADMIN_PANEL_INSTANCE_DIR": str(settings.instance_dir), "DATABASE_URL": settings.database_url,
               **sandbox.env()}
    return PlatformClients(Settings.from_env(environ))


@pytest.fixture
def locks(app):
    return redis_locks(Redis.from_url(redis_url()))


@pytest.fixture
def sync(app, clients, locks):
    """Run a sync (all, or one source/scope) like the job does; returns (runs, failures)."""

    def run(source: str | None = None, scope: str | None = None):
        return runner.run_many(db.session, clients, locks, runner.plan(clients, source, scope), triggered_by="test")

    return run


@pytest.fixture
def data_writes(app):
    """Collects INSERT/UPDATE/DELETE statements that wrote rows of data tables (sync_runs bookkeeping excluded).

    Relation rebuilding always issues its set-based UPDATEs; they count only when they changed a row.
    """
    statements: list[str] = []

    def collect(conn, cursor, statement, parameters, context, executemany):
        verb = statement.lstrip().split(" ", 1)[0].upper()
        if verb not in {"INSERT", "UPDATE", "DELETE"} or "sync_runs" in statement.split("(")[0]:
            return
        if verb == "INSERT" or cursor.rowcount != 0:
            statements.append(f"{statement} -- {cursor.rowcount} rows")

    event.listen(db.engine, "after_cursor_execute", collect)
    yield statements
    event.remove(db.engine, "after_cursor_execute", collect)
