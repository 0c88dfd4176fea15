"""A sync run's life: one at a time per (source, scope), recorded as a SyncRun whatever happens."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.models import SyncRun, utcnow
from app.models.operations import SYNC_NEEDS_CONFIRMATION
from app.sync.deletion_guard import PendingDeletions, waiting_message
from app.redaction import redact_text
from app.sync.upsert import Counts

log = logging.getLogger(__name__)
# A lock factory: (name) -> context manager that yields True when this run holds the lock, False otherwise.
LockFactory = Callable[[str], AbstractContextManager[bool]]


class SyncFailed(Exception):
    """A sync could not complete; nothing was deleted and the reason is on its SyncRun."""


@dataclass
class Progress:
    """Reports how far a run is, onto its SyncRun row.

    It commits the session, so a synchronizer reports progress only while fetching, never once it has started
    writing rows: the writes of a run are committed together with its final status, or not at all.
    """

    session: Session
    run: SyncRun
    listeners: list[Callable[[int, str], None]] = field(default_factory=list)
    _last_commit: float = 0.0

    def __call__(self, percent: int, message: str) -> None:
        percent = max(0, min(100, int(percent)))
        for listener in self.listeners:
            listener(percent, message)
        now = time.monotonic()
        if now - self._last_commit < 0.5 and percent < 100:
            return  # pages poll every second: no need to write more often
        self._last_commit = now
        self.run.progress, self.run.progress_message = percent, message[:255]
        self.session.commit()


@dataclass
class Outcome:
    counts: Counts
    api_calls: int
    # Deletions the mass-deletion guard held back (none were made): the run then waits for a confirmation.
    pending_deletions: PendingDeletions = field(default_factory=dict)


def run_recorded(
    session: Session,
    *,
    source: str,
    scope: str,
    lock: LockFactory,
    body: Callable[[Progress], Outcome],
    job_id: str | None = None,
    request_id: int | None = None,
    triggered_by: str | None = None,
    listeners: list[Callable[[int, str], None]] | None = None,
) -> SyncRun | None:
    """Run `body` under the (source, scope) lock and record it; None when another run of that scope is going on."""
    with lock(f"sync-lock:{source}:{scope}") as acquired:
        if not acquired:
            log.info("sync %s/%s skipped: another run of the same scope is in progress", source, scope)
            return None
        # We hold the lock, so a run of this scope still marked running died with its process: say so.
        session.execute(
            update(SyncRun).where(SyncRun.source == source, SyncRun.scope == scope, SyncRun.status == "running")
            .values(status="failed", finished_at=utcnow(), progress_message="interrupted",
                    error="interrupted: the process running it stopped before it finished; nothing was deleted")
        )
        run = SyncRun(source=source, scope=scope, status="running", job_id=job_id, request_id=request_id,
                      triggered_by=triggered_by,
                      started_at=utcnow(), progress_message="fetching")
        session.add(run)
        session.commit()
        progress = Progress(session=session, run=run, listeners=listeners or [])
        try:
            outcome = body(progress)
        except Exception as error:  # recorded on the run whatever it is: the operator must see why
            session.rollback()
            run.status, run.error, run.finished_at = "failed", _reason(error), utcnow()
            run.progress_message = "failed; nothing was deleted"
            session.commit()
            log.warning("sync %s/%s failed: %s", source, scope, run.error)
            raise SyncFailed(run.error) from error
        counts = outcome.counts
        run.created, run.updated, run.deleted, run.unchanged = (counts.created, counts.updated, counts.deleted,
                                                                counts.unchanged)
        run.api_calls, run.finished_at, run.progress = outcome.api_calls, utcnow(), 100
        if outcome.pending_deletions:
            run.status, run.pending_deletions = SYNC_NEEDS_CONFIRMATION, outcome.pending_deletions
            run.progress_message = waiting_message(outcome.pending_deletions)[:255]
            log.warning("sync %s/%s %s", source, scope, run.progress_message)
        else:
            run.status, run.progress_message = "succeeded", "done"
        session.commit()
        return run


def _reason(error: Exception) -> str:
    # Exception messages carry URLs with passwords and echoed headers: the stored reason never does.
    text = redact_text(str(error)) or type(error).__name__
    return text[:2000]
