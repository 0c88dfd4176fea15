"""What the synchronisers did: the latest run per source and scope, the history grouped by request, one request's
live progress across its scope jobs, and when the schedule runs next."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from redis import Redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.models import SyncRequest, SyncRun, utcnow
from app.models.sync import SYNC_REQUEST_OPEN
from app.queries.paging import Page, paginate
from app.redaction import redact_text

SYNC_SOURCES = ("deis", "aws", "cloudflare")
SYNC_QUEUE = "sync"
# The sync jobs, by dotted name: jobs/ is imported by the worker, never by the web process.
SYNC_FANOUT_JOB = "jobs.sync.sync_source"  # plans a request: one scope job each, then the finish job
SYNC_ALL_JOB = "jobs.sync.sync_all"  # the schedule's: a fan-out of every source
SYNC_SCOPE_JOB = "jobs.sync_scope.sync_scope"  # one (source, scope) under its lock
SYNC_FINISH_JOB = "jobs.sync_finish.finish_sync"  # relations once, after every scope job
SYNC_SOURCE_JOB = SYNC_FANOUT_JOB  # its older name
HISTORY_PER_PAGE = 50
ALIVE_STATUSES = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}
# A request whose jobs the queue no longer knows, or older than this, is over whatever its row says.
OPEN_AT_MOST = timedelta(hours=2)
OUTCOME_WORDS = {"succeeded": "finished", "failed": "failed", "needs_confirmation": "waits for a confirmation",
                 SYNC_REQUEST_OPEN: "running"}


def request_title(source: str | None, scope: str | None) -> str:
    """What a request syncs, as its page's title says it: "Sync of every source", "Sync of deis / eu-prod"."""
    if source is None:
        return "Sync of every source"
    return f"Sync of {source} / {scope}" if scope else f"Sync of {source}"


def job_status(connection: Redis, job_id: str | None) -> JobStatus | None:
    """The queue's status of a job, None when the queue has no such job (any more)."""
    if not job_id:
        return None
    try:
        return Job.fetch(job_id, connection=connection).get_status(refresh=False)
    except NoSuchJobError:
        return None


def job_alive(connection: Redis, job_id: str | None) -> bool | None:
    """True while the job is queued or running, False once it ended, None when the queue has no such job."""
    status = job_status(connection, job_id)
    return None if status is None else status in ALIVE_STATUSES


def still_open(request: SyncRequest, connection: Redis) -> bool:
    """Whether the request's jobs are still queued or running (its row alone may be stale after a crash)."""
    if not request.is_open or request.created_at < utcnow() - OPEN_AT_MOST:
        return False
    if request.finish_job_id:
        return bool(job_alive(connection, request.finish_job_id))
    return bool(job_alive(connection, request.job_id))  # not fanned out yet: open while its fan-out job is


def open_requests(session: Session, connection: Redis) -> list[SyncRequest]:
    """The requests still queued or running, newest first (what the buttons show as running)."""
    rows = session.scalars(select(SyncRequest).where(SyncRequest.status == SYNC_REQUEST_OPEN)
                           .order_by(SyncRequest.id.desc()))
    return [row for row in rows if still_open(row, connection)]


@dataclass
class ScopeProgress:
    """One scope of a request: its run once a worker started it."""

    source: str
    scope: str
    run: SyncRun | None
    state: str  # a run's status, or: waiting, skipped, failed (the job died before recording a run)

    @property
    def label(self) -> str:
        return self.source if self.scope == "all" else f"{self.source} / {self.scope}"

    @property
    def percent(self) -> int:
        if self.run is not None:
            return self.run.progress
        return 0 if self.state == "waiting" else 100


@dataclass
class RequestProgress:
    """A sync request as its page shows it: one line per scope, and whether it is over."""

    request: SyncRequest
    scopes: list[ScopeProgress] = field(default_factory=list)
    done: bool = False
    interrupted: bool = False  # the queue forgot its jobs before the final one ran

    @property
    def failed(self) -> bool:
        return self.interrupted or self.request.status == "failed" or any(
            each.state == "failed" for each in self.scopes)

    @property
    def percent(self) -> int:
        """The scopes' mean progress; a scope that will not run (skipped, died) counts as done."""
        if not self.scopes:
            return 100 if self.done else 0
        return sum(each.percent for each in self.scopes) // len(self.scopes)

    @property
    def summary(self) -> str:
        """One sentence for the header: where the request stands."""
        if self.interrupted:
            return "It stopped before it finished (a worker may have died); nothing more will happen."
        if self.request.error and self.done:
            return f"It could not run: {redact_text(self.request.error)}"
        total = len(self.scopes)
        if not self.done:
            if not self.request.finish_job_id:
                return "Waiting for a worker to plan it."
            started = sum(each.run is not None for each in self.scopes)
            finished = sum(each.state not in ("waiting", "running") for each in self.scopes)
            if finished == total:
                return "Every scope is synced; rebuilding the links between records, instances and apps."
            if started == 0:
                return f"Waiting for a worker: {total} scope{'' if total == 1 else 's'} queued."
            return f"{finished} of {total} scopes done, {started - finished} running."
        words = OUTCOME_WORDS.get(self.request.status, self.request.status)
        changed = self.request.relations_changed
        links = f"; {changed} link{'' if changed == 1 else 's'} updated" if changed else ""
        return f"{total} scope{'' if total == 1 else 's'}, {words}{links}."


def request_progress(session: Session, connection: Redis, request_id: int) -> RequestProgress | None:
    """Request `request_id` with each planned scope's run; None when there is no such request."""
    request = session.get(SyncRequest, request_id)
    if request is None:
        return None
    runs = list(session.scalars(select(SyncRun).where(SyncRun.request_id == request.id).order_by(SyncRun.id)))
    latest = {(run.source, run.scope): run for run in runs}
    done = not request.is_open
    interrupted = not done and not still_open(request, connection)
    done = done or interrupted
    scopes = []
    for planned in request.scope_jobs or []:
        run = latest.pop((planned["source"], planned["scope"]), None)
        if run is not None:
            state = run.status
        elif done:
            # No run recorded: its lock was held by another run (the job finished), or the job died first.
            status = job_status(connection, planned.get("job_id"))
            state = "skipped" if status == JobStatus.FINISHED or (status is None and not interrupted) else "failed"
        else:
            state = "waiting"
        scopes.append(ScopeProgress(planned["source"], planned["scope"], run, state))
    scopes.extend(ScopeProgress(run.source, run.scope, run, run.status) for run in latest.values())
    return RequestProgress(request=request, scopes=scopes, done=done, interrupted=interrupted)


def request_for_job(session: Session, job_id: str) -> int | None:
    """The request a job (its fan-out, a scope job, or its final job) belongs to: old links keep working."""
    request_id = session.scalar(select(SyncRequest.id).where(
        or_(SyncRequest.job_id == job_id, SyncRequest.finish_job_id == job_id)))
    if request_id is None:
        request_id = session.scalar(select(SyncRun.request_id).where(SyncRun.job_id == job_id).limit(1))
    return request_id


def latest_runs(session: Session) -> list[SyncRun]:
    """The most recent run of every (source, scope) pair, by source then scope."""
    latest_ids = select(func.max(SyncRun.id)).group_by(SyncRun.source, SyncRun.scope)
    return list(session.scalars(
        select(SyncRun).where(SyncRun.id.in_(latest_ids)).order_by(SyncRun.source, SyncRun.scope)
    ))


@dataclass
class HistoryGroup:
    """The runs of one request, together (request None: runs from `flask sync run`)."""

    request: SyncRequest | None
    runs: list[SyncRun]


def run_history(
    session: Session, source: str | None = None, page: int = 1, per_page: int = HISTORY_PER_PAGE
) -> Page[SyncRun]:
    """Every run, newest request first and the runs of one request together, optionally of one source only."""
    started = func.coalesce(SyncRequest.created_at, SyncRun.started_at)
    query = (select(SyncRun).outerjoin(SyncRequest, SyncRun.request_id == SyncRequest.id)
             .order_by(started.desc(), SyncRun.request_id.desc(), SyncRun.id))
    count = select(SyncRun.id)
    if source is not None:
        query, count = query.where(SyncRun.source == source), count.where(SyncRun.source == source)
    return paginate(session, query, page, per_page, count_query=count)


def history_groups(session: Session, runs: list[SyncRun]) -> list[HistoryGroup]:
    """Consecutive runs of the same request as one group, with the request row (one query for them all)."""
    ids = {run.request_id for run in runs if run.request_id is not None}
    requests = {row.id: row for row in session.scalars(select(SyncRequest).where(SyncRequest.id.in_(ids)))} \
        if ids else {}
    groups: list[HistoryGroup] = []
    for run in runs:
        if groups and run.request_id is not None and groups[-1].runs[-1].request_id == run.request_id:
            groups[-1].runs.append(run)
        else:
            groups.append(HistoryGroup(requests.get(run.request_id), [run]))
    return groups


def sync_cron(interval_minutes: int) -> str:
    """The schedule's cron expression (jobs/cron.py registers it; the sync page tells when it fires next)."""
    return f"*/{interval_minutes} * * * *"


def next_scheduled_sync(now: datetime, interval_minutes: int) -> datetime:
    """When `*/N * * * *` fires next after `now` (UTC): minutes 0, N, 2N, … of every hour."""
    interval = max(1, min(59, interval_minutes))
    start = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for step in range(0, 61):
        candidate = start + timedelta(minutes=step)
        if candidate.minute % interval == 0:
            return candidate
    return start  # unreachable: minute 0 of the next hour always matches


def run_duration(run: SyncRun) -> str:
    """How long a run took ('4.2 s', '3 min 12 s'), or 'running' while it has not finished."""
    if run.finished_at is None:
        return "running" if run.status == "running" else "—"
    seconds = max(0.0, (run.finished_at - run.started_at).total_seconds())
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest} s"
