"""Audit log bench: the page's actor/action choices and a filtered page over a large log.

Fills an audit_events table (SQLite by default, or BENCH_DATABASE_URL, e.g. a PostgreSQL test database) with
BENCH_EVENTS rows (default 300,000) and prints how long the index walk (`distinct_values`) takes against
SELECT DISTINCT, and how long one filtered page and the CSV export take. Figures are printed, never asserted.
"""
from __future__ import annotations

import os
import random
import tempfile
import time
from datetime import timedelta

from sqlalchemy import create_engine, insert, select
from sqlalchemy.orm import Session

from app.models import AuditEvent, Base, utcnow
from app.queries import audit_log

EVENTS = int(os.environ.get("BENCH_EVENTS", "300000"))


def timed(label: str, work) -> object:
    started = time.perf_counter()
    result = work()
    print(f"{label:<42} {1000 * (time.perf_counter() - started):9.1f} ms")
    return result


def main() -> None:
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/audit-bench.sqlite"
    engine = create_engine(url)
    Base.metadata.drop_all(engine, tables=[AuditEvent.__table__])
    Base.metadata.create_all(engine, tables=[AuditEvent.__table__])
    actors = [f"person-{n}" for n in range(40)] + ["system", "cli"]
    actions = [f"{kind}.{verb}" for kind in ("app", "user", "sync", "backup", "alert", "auth")
               for verb in ("create", "change", "delete", "request")]
    start = utcnow() - timedelta(days=365)
    rows = [{"at": start + timedelta(seconds=n * 100), "actor": random.choice(actors),
             "action": random.choice(actions), "target": f"app-{n % 500}", "after": {"n": n}}
            for n in range(EVENTS)]
    with engine.begin() as connection:
        timed(f"insert {EVENTS:,} events", lambda: connection.execute(insert(AuditEvent), rows))
    with Session(engine) as session:
        walked = timed("actors by index walk", lambda: audit_log.distinct_values(session, "actor"))
        distinct = timed("actors by SELECT DISTINCT",
                         lambda: list(session.scalars(select(AuditEvent.actor).distinct().order_by(AuditEvent.actor))))
        assert walked == distinct
        timed("actions by index walk", lambda: audit_log.distinct_values(session, "action"))
        filters = audit_log.AuditFilters(actor="person-7", action="app.")
        timed("one page, actor + action group", lambda: audit_log.audit_page(session, filters, 1))
        timed("one page, free text", lambda: audit_log.audit_page(session, audit_log.AuditFilters(q="app-42"), 1))
        timed("export, actor + action group", lambda: sum(1 for _ in audit_log.events_for_export(session, filters)))


if __name__ == "__main__":
    main()
