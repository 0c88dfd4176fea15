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


def main() -> None:
    """`python -m bench.sync_worker <rq worker arguments>`: a launcher that imports everything a worker needs and
    builds the panel app once, then forks one `rq worker` per "go" line on stdin. The benchmark pays the imports
    once and before any clock runs, instead of once per worker while a run adds workers (or while the page
    benchmark fills its database). The end of stdin, or SIGTERM, stops the workers (a warm shutdown each) and the
    launcher."""
    import signal
    import sys

    import rq.cli

    from app.services.aws import preload_models
    from jobs.context import panel

    # What a plain `rq worker --worker-class jobs.worker.PanelWorker` holds before its first job (the panel app,
    # botocore's models), and no more: the jobs' own modules are imported by each work horse, as in production.
    panel()  # the app PanelWorker takes (jobs.context keeps it); it connects to nothing yet
    preload_models()
    workers: list[int] = []

    def stop_workers(*_args: object) -> None:
        for pid in workers:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in workers:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        os._exit(0)

    signal.signal(signal.SIGTERM, stop_workers)
    for line in sys.stdin:
        if line.strip() != "go":
            break
        pid = os.fork()
        if pid == 0:  # the worker
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # rq installs its own warm-shutdown handler
            code = 1
            try:
                rq.cli.main(["worker", *sys.argv[1:]], standalone_mode=False)
                code = 0
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
            finally:
                os._exit(code)  # never back into the launcher's loop
        workers.append(pid)
    stop_workers()


if __name__ == "__main__":
    main()
