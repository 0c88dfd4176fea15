"""What the synchronisers did: the latest run per source and scope, the history, and one job's live progress."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from redis import Redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import SyncRun
from app.queries.paging import Page, paginate
from app.redaction import redact_text

SYNC_SOURCES = ("deis", "aws", "cloudflare")
SYNC_QUEUE = "sync"
# The sync jobs, by dotted name: jobs/sync.py is imported by the worker, never by the web process.
SYNC_SOURCE_JOB = "jobs.sync.sync_source"
SYNC_ALL_JOB = "jobs.sync.sync_all"
HISTORY_PER_PAGE = 50
JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DONE_STATUSES = {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}
ERROR_SHOWN = 500


@dataclass
class SyncJobProgress:
    """An RQ sync job as the page shows it while it runs: its status and the SyncRun rows it has written."""

    job_id: str
    status: str  # the RQ status, or "unknown" once Redis has forgotten the job
    done: bool
    error: str | None
    function: str | None
    runs: list[SyncRun] = field(default_factory=list)
    target: str | None = None  # what the job syncs: "every source", "deis / prod-eu", "aws"
    enqueued_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "stopped", "canceled") or any(run.status == "failed" for run in self.runs)


def latest_runs(session: Session) -> list[SyncRun]:
    """The most recent run of every (source, scope) pair, by source then scope."""
    latest_ids = select(func.max(SyncRun.id)).group_by(SyncRun.source, SyncRun.scope)
    return list(session.scalars(
        select(SyncRun).where(SyncRun.id.in_(latest_ids)).order_by(SyncRun.source, SyncRun.scope)
    ))


def run_history(
    session: Session, source: str | None = None, page: int = 1, per_page: int = HISTORY_PER_PAGE
) -> Page[SyncRun]:
    """Every run, newest first, optionally of one source only."""
    query = select(SyncRun).order_by(SyncRun.started_at.desc(), SyncRun.id.desc())
    count = select(SyncRun.id)
    if source is not None:
        query, count = query.where(SyncRun.source == source), count.where(SyncRun.source == source)
    return paginate(session, query, page, per_page, count_query=count)


def _safe_error(text: str | None) -> str | None:
    if not text:
        return None
    lines = [line for line in text.strip().splitlines() if line.strip()]
    # The last line of a traceback names the exception and its message: what an operator can act on.
    # An exception message must not bring a password to the page (postgres://user:secret@host, a token header).
    return (redact_text(lines[-1].strip()) or "")[:ERROR_SHOWN] if lines else None


def _job_target(job: Job) -> str | None:
    if job.func_name == SYNC_ALL_JOB:
        return "every source"
    if job.func_name == SYNC_SOURCE_JOB and job.args:
        source, scope = job.args[0], job.args[1] if len(job.args) > 1 else None
        return f"{source} / {scope}" if scope else str(source or "every source")
    return None


def job_progress(session: Session, connection: Redis, job_id: str) -> SyncJobProgress | None:
    """Progress of RQ job `job_id` and its SyncRun rows; None when neither Redis nor the database knows it."""
    if not JOB_ID.match(job_id):
        return None
    runs = list(session.scalars(
        select(SyncRun).where(SyncRun.job_id == job_id).order_by(SyncRun.source, SyncRun.scope, SyncRun.id)
    ))
    try:
        job = Job.fetch(job_id, connection=connection)
    except NoSuchJobError:
        job = None
    if job is not None and job.origin != SYNC_QUEUE:
        job = None  # this page follows sync jobs only; other queues' jobs are none of its business
    if job is None:
        if not runs:
            return None
        # Redis forgot the job (its result expired): the rows are all there is; polling further shows nothing new.
        return SyncJobProgress(job_id=job_id, status="unknown", done=True, error=None, function=None, runs=runs)
    status = job.get_status(refresh=False)
    error = None
    if status == JobStatus.FAILED:
        result = job.latest_result()
        error = _safe_error(result.exc_string if result is not None else None) or "the job failed"
    return SyncJobProgress(
        job_id=job_id,
        status=status.value if status is not None else "unknown",
        done=status in DONE_STATUSES,
        error=error,
        function=job.func_name,
        runs=runs,
        target=_job_target(job),
        enqueued_at=job.enqueued_at,
        ended_at=job.ended_at,
    )


def run_duration(run: SyncRun) -> str:
    """How long a run took ('4.2 s', '3 min 12 s'), or 'running' while it has not finished."""
    if run.finished_at is None:
        return "running" if run.status == "running" else "—"
    seconds = max(0.0, (run.finished_at - run.started_at).total_seconds())
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest} s"
