"""The life of an operation: pending -> running -> succeeded | failed, progress in bytes, and its callback.

Every job goes through `run()`: it marks the operation running, runs the work, and on any exception marks it failed
with a clear message, so no operation stays `running` because a job crashed. The result is then handed to
`callbacks`, which delivers it with retries.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from rq import Callback
from rq.job import Job
from sqlalchemy import update

from dbapi import callbacks, runtime
from dbapi.crypto import BackupIntegrityError
from dbapi.models import Backup, BackupState, Database, Operation, OperationState, db, utcnow
from dbapi.operations.errors import OperationFailed
from dbapi.operations.views import backup_view, database_view
from dbapi.pgtools import PgToolError
from dbapi.storage import StorageError

log = logging.getLogger("dbapi.operations")

PROGRESS_COMMIT_SECONDS = 1.0
# Failures whose message is written for the caller; anything else is a bug and is reported by its type.
EXPECTED_FAILURES = (OperationFailed, PgToolError, StorageError, BackupIntegrityError)


def enqueue(operation: Operation, job: Callable[[str], None]) -> None:
    """Queue `job(operation.id)` on the dbapi queue (the operation row must be committed)."""
    runtime().queue.enqueue(job, operation.id, job_id=f"operation-{operation.id}", result_ttl=600,
                            on_failure=Callback(abandoned))


def abandoned(job: Job, connection: Any, exc_type: type, exc_value: BaseException, traceback: Any) -> None:
    """RQ failure callback: the job died outside `run()` (its worker was killed, RQ found it abandoned).

    Without this the operation would stay `running` forever and its caller would never hear back: fail it, fail
    the backup it was writing, and call back saying why.
    """
    operation = db.session.get(Operation, job.args[0]) if job.args else None
    if operation is None or operation.state in OperationState.FINISHED:
        return
    if operation.backup_id:
        backup = db.session.get(Backup, operation.backup_id)
        if backup is not None and backup.state in (BackupState.PENDING, BackupState.RUNNING):
            backup.state = BackupState.FAILED
    reason = exc_type.__name__ if exc_type else "unknown error"
    log.warning("operation abandoned id=%s kind=%s (%s)", operation.id, operation.kind, reason)
    finish(operation, OperationState.FAILED, resources=resource_payload(operation),
           error=f"the worker running this operation stopped before it finished ({reason}); try again")


def run(operation_id: str, work: Callable[[Operation], dict[str, Any]]) -> None:
    """Run `work(operation)` as the body of a job; record success or failure and schedule the callback.

    `work` returns the resource part of the callback payload (e.g. {"database": {...}}) and undoes its own
    half-made changes before raising.
    """
    # Claim it atomically: a job delivered twice (or re-run after a worker crash) must not redo the work.
    claimed = db.session.execute(
        update(Operation)
        .where(Operation.id == operation_id, Operation.state == OperationState.PENDING)
        .values(state=OperationState.RUNNING, started_at=utcnow())
    ).rowcount
    db.session.commit()
    operation = db.session.get(Operation, operation_id)
    if operation is None or claimed != 1:
        log.warning("operation %s is not pending (%s); job ignored", operation_id,
                    operation.state if operation else "unknown")
        return
    log.info("operation started id=%s kind=%s", operation.id, operation.kind)
    try:
        resources = work(operation)
    except Exception as error:  # every failure must end the operation, whatever raised it
        db.session.rollback()
        message = failure_message(error)
        log.warning("operation failed id=%s kind=%s: %s", operation_id, operation.kind, message,
                    exc_info=not isinstance(error, EXPECTED_FAILURES))
        finish(operation, OperationState.FAILED, error=message, resources=resource_payload(operation))
        return
    finish(operation, OperationState.SUCCEEDED, resources=resources)


def finish(
    operation: Operation, state: str, *, resources: dict[str, Any], error: str | None = None
) -> None:
    """Record the end of `operation` and schedule its callback with `resources` in the payload."""
    context = runtime()
    operation.state = state
    operation.error = error
    operation.finished_at = utcnow()
    callbacks.attach(operation, callback_payload(operation, resources), context.settings.master_keys)
    db.session.commit()
    log.info("operation finished id=%s kind=%s state=%s", operation.id, operation.kind, state)
    callbacks.enqueue_first_attempt(operation, context.queue)


def callback_payload(operation: Operation, resources: dict[str, Any]) -> dict[str, Any]:
    """The body POSTed to the callback URL."""
    return {
        "operation_id": operation.id,
        "kind": operation.kind,
        "state": operation.state,
        "error": operation.error,
        "progress_bytes": operation.progress_bytes,
        "finished_at": operation.finished_at,
        **resources,
    }


def resource_payload(operation: Operation) -> dict[str, Any]:
    """The public view of the database and backup an operation is about (for failure callbacks)."""
    resources: dict[str, Any] = {}
    if operation.database_id:
        database = db.session.get(Database, operation.database_id)
        if database is not None:
            resources["database"] = database_view(database)
    if operation.backup_id:
        backup = db.session.get(Backup, operation.backup_id)
        if backup is not None:
            resources["backup"] = backup_view(backup)
    return resources


def failure_message(error: BaseException) -> str:
    """What a failed operation (and its callback) says about `error`."""
    if isinstance(error, EXPECTED_FAILURES) and str(error):
        return str(error)[:2000]
    return describe(error)


def describe(error: BaseException) -> str:
    """A one-line, operator-readable description of an unexpected error."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}"[:1000] if text else type(error).__name__


class ProgressMeter:
    """Counts bytes flowing through a stream and writes the count to the operation (and backup) about once a second."""

    def __init__(self, operation: Operation, backup: Backup | None = None) -> None:
        self.operation = operation
        self.backup = backup
        self.done = 0
        self._last_commit = time.monotonic()

    def tap(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Yield `chunks` unchanged while counting them."""
        for chunk in chunks:
            self.done += len(chunk)
            if time.monotonic() - self._last_commit >= PROGRESS_COMMIT_SECONDS:
                self.flush()
            yield chunk
        self.flush()

    def flush(self) -> None:
        """Write the current count now."""
        self.operation.progress_bytes = self.done
        if self.backup is not None:
            self.backup.progress_bytes = self.done
        db.session.commit()
        self._last_commit = time.monotonic()
