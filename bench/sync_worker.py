"""The RQ worker the sync benchmark starts: the panel's own worker class, counting the SQL statements each job
runs (every statement, and the INSERT/UPDATE/DELETE ones per table) into a JSON file per job in BENCH_SQL_DIR."""
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
        with self.panel_app.app_context():
            event.listen(db.engine, "before_cursor_execute", self._count)

    def _count(self, connection, cursor, statement, parameters, context, executemany) -> None:
        self.statements += 1
        found = _WRITE.match(statement)
        if found:
            self.writes[found.group(2).lower()] += len(parameters) if executemany and parameters else 1

    def perform_job(self, job, queue, *args, **kwargs) -> bool:
        self.statements, self.writes = 0, Counter()
        try:
            return super().perform_job(job, queue, *args, **kwargs)
        finally:
            folder = Path(os.environ["BENCH_SQL_DIR"])
            (folder / f"{job.id}.json").write_text(json.dumps({"statements": self.statements,
                                                                "writes": dict(self.writes)}))
