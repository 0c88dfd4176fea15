"""The Databases API worker: `python -m dbapi.worker` runs the jobs of the RQ queue `dbapi`.

It builds the app (and its context) once, then executes jobs in-process with a SimpleWorker: no fork, so the
database engine and the storage client are never shared across a fork. Its built-in scheduler moves callback
retries queued with `enqueue_in` back onto the queue when they are due.
"""
from __future__ import annotations

import argparse
import logging

from rq import SimpleWorker
from rq.executions import Execution
from rq.job import Job
from rq.queue import Queue

from dbapi import create_app, runtime
from dbapi.models import db


class DbapiWorker(SimpleWorker):
    """A SimpleWorker that gives every job a fresh database session inside the app context already pushed."""

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        try:
            return super().perform_job(job, queue, execution)
        finally:
            # A job must not see the identity map (or a broken transaction) of the one before it.
            db.session.remove()


def main(argv: list[str] | None = None) -> None:
    """Run the worker until stopped (or, with --burst, until the queue is empty)."""
    parser = argparse.ArgumentParser(prog="python -m dbapi.worker", description=__doc__.splitlines()[0])
    parser.add_argument("--burst", action="store_true", help="quit when the queue is empty")
    parser.add_argument("--name", default=None, help="worker name (default: generated)")
    parser.add_argument("--logging-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.logging_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app()
    with app.app_context():
        context = runtime()
        worker = DbapiWorker([context.queue], connection=context.redis, name=args.name)
        worker.work(burst=args.burst, with_scheduler=True, logging_level=args.logging_level)


if __name__ == "__main__":
    main()
