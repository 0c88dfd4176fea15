"""The RQ worker the sync benchmark starts: the panel's own worker class, counting the SQL statements each job
runs (every statement; per table, the rows INSERT/UPDATE/DELETE statements changed, and the statements themselves)
into a JSON file per job in BENCH_SQL_DIR.

Rows, not statements, are the writes: the relations rebuild sends its set-based UPDATEs on every run, and an UPDATE
whose WHERE matches nothing writes nothing."""
from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

from sqlalchemy import event

from app.extensions import db
from jobs.worker import PanelWorker

_WRITE = re.compile(r"^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.IGNORECASE)


class CountingWorker(PanelWorker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.statements = 0
        self.writes: Counter[str] = Counter()
        self.write_statements: Counter[str] = Counter()
        with self.panel_app.app_context():
            event.listen(db.engine, "after_cursor_execute", self._count)

    def _count(self, connection, cursor, statement, parameters, context, executemany) -> None:
        self.statements += 1
        found = _WRITE.match(statement)
        if found:
            table = found.group(2).lower()
            self.write_statements[table] += 1
            rows = cursor.rowcount
            if rows is None or rows < 0:  # a driver that cannot tell: count what was sent
                rows = len(parameters) if executemany and parameters else 1
            self.writes[table] += rows

    def perform_job(self, job, queue, *args, **kwargs) -> bool:
        self.statements, self.writes, self.write_statements = 0, Counter(), Counter()
        try:
            return super().perform_job(job, queue, *args, **kwargs)
        finally:
            folder = Path(os.environ["BENCH_SQL_DIR"])
            (folder / f"{job.id}.json").write_text(json.dumps({"statements": self.statements,
                                                                "writes": dict(self.writes),
                                                                "write_statements": dict(self.write_statements)}))
