"""What needs an administrator's attention now: the panels of the home page."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from redis.exceptions import RedisError
from rq import Queue
from rq.registry import FailedJobRegistry
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from app.models import AlertDelivery, App, Certificate, DnsRecord, LimitSet, MaintenanceEvent, Operation, SyncRun
from app.queries import following
from app.redaction import redact_text

SHOWN = 10
CERTIFICATE_WARNING = timedelta(days=30)
STUCK_AFTER = timedelta(hours=1)
SYNC_SOURCES = ("deis", "aws", "cloudflare")


@dataclass
class Panel:
    """One list on the home page: the first rows and how many there are in all."""

    rows: list = field(default_factory=list)
    total: int = 0


@dataclass
class Attention:
    maintenance_events: Panel
    expiring_certificates: Panel
    operations: Panel
    syncs: Panel
    limit_drift: Panel
    dangling_records: Panel
    failed_deliveries: Panel  # alert notifications no channel took: nobody may have heard of the alert
    following_records: Panel = field(default_factory=Panel)
    failed_jobs: Panel = field(default_factory=Panel)  # rows: FailedJobs per queue with failures
    # Not problems in themselves, but what "no drift" means: apps without a limit set are not checked at all.
    app_count: int = 0
    apps_without_limit_set: int = 0

    @property
    def total(self) -> int:
        return sum(panel.total for panel in vars(self).values() if isinstance(panel, Panel))


def _panel(session: Session, query, count_query) -> Panel:
    return Panel(rows=list(session.scalars(query.limit(SHOWN)).unique()), total=session.scalar(count_query) or 0)


def needs_attention(session: Session, now: datetime, sync_interval: timedelta,
                    queues: list[Queue] | None = None) -> Attention:
    """Collect every home-page panel with a bounded number of queries (and of `queues`' failed jobs)."""
    upcoming_events = MaintenanceEvent.completed.is_(False)
    expiring = Certificate.expires_at < now + CERTIFICATE_WARNING
    stuck = (Operation.state.in_(("pending", "running")) & (Operation.created_at < now - STUCK_AFTER)) | (
        (Operation.state == "failed") & (Operation.finished_at > now - timedelta(days=1))
    ) | (Operation.state == "stale")
    app_count, ungoverned = app_counts(session)
    return Attention(
        maintenance_events=_panel(
            session,
            select(MaintenanceEvent).where(upcoming_events).options(joinedload(MaintenanceEvent.instance))
            .order_by(MaintenanceEvent.not_before),
            select(func.count()).select_from(MaintenanceEvent).where(upcoming_events),
        ),
        expiring_certificates=_panel(
            session,
            select(Certificate).where(expiring).options(joinedload(Certificate.cluster))
            .order_by(Certificate.expires_at),
            select(func.count()).select_from(Certificate).where(expiring),
        ),
        operations=_panel(
            session,
            select(Operation).where(stuck).order_by(Operation.created_at.desc()),
            select(func.count()).select_from(Operation).where(stuck),
        ),
        syncs=_sync_problems(session, now, sync_interval),
        limit_drift=_panel(
            session,
            select(App).where(App.limit_drift.is_(True)).options(joinedload(App.cluster)).order_by(App.name),
            select(func.count()).select_from(App).where(App.limit_drift.is_(True)),
        ),
        dangling_records=_panel(
            session,
            select(DnsRecord).where(DnsRecord.dangling.is_(True)).order_by(DnsRecord.name),
            select(func.count()).select_from(DnsRecord).where(DnsRecord.dangling.is_(True)),
        ),
        failed_deliveries=_panel(
            session,
            select(AlertDelivery).where(AlertDelivery.state == "failed").options(joinedload(AlertDelivery.alert))
            .order_by(AlertDelivery.last_attempt_at.desc()),
            select(func.count()).select_from(AlertDelivery).where(AlertDelivery.state == "failed"),
        ),
        following_records=Panel(rows=following.following(session, limit=SHOWN),
                                total=following.following_count(session)),
        failed_jobs=failed_jobs(queues or []),
        app_count=app_count,
        apps_without_limit_set=ungoverned,
    )


def app_counts(session: Session) -> tuple[int, int]:
    """How many apps there are, and how many have no limit set for their type on their cluster, in one pass over
    the apps (a limit set is unique per cluster and type, so the outer join adds no row)."""
    governed = (LimitSet.cluster_id == App.cluster_id) & (LimitSet.app_type == App.app_type)
    apps, with_limit_set = session.execute(
        select(func.count(App.id), func.count(LimitSet.id)).select_from(App).outerjoin(LimitSet, governed)).one()
    return apps or 0, (apps or 0) - (with_limit_set or 0)


@dataclass
class FailedJobs:
    queue: str
    count: int | None  # None: Redis did not answer
    latest: str | None = None  # the newest failed job's function


def failed_jobs(queues: list[Queue]) -> Panel:
    """RQ's failed jobs per queue (only queues with some); an unreachable Redis is one row saying so."""
    rows: list[FailedJobs] = []
    try:
        for queue in queues:
            registry = FailedJobRegistry(queue=queue)
            count = registry.count
            if count:
                newest = registry.get_job_ids(0, 0, desc=True)
                job = queue.fetch_job(newest[0]) if newest else None
                rows.append(FailedJobs(queue.name, count, job.func_name if job else None))
    except RedisError:
        return Panel(rows=[FailedJobs("redis", None)], total=1)
    return Panel(rows=rows, total=sum(row.count for row in rows))


@dataclass
class SyncProblem:
    source: str
    scope: str
    reason: str
    last_run: SyncRun | None


def _sync_problems(session: Session, now: datetime, sync_interval: timedelta) -> Panel:
    """Sources whose latest run failed or waits for a mass-deletion confirmation, or that have not succeeded for
    three intervals (or ever)."""
    latest_ids = select(func.max(SyncRun.id)).group_by(SyncRun.source, SyncRun.scope)
    latest_runs = list(session.scalars(select(SyncRun).where(SyncRun.id.in_(latest_ids))))
    stale_before = now - 3 * sync_interval
    problems: list[SyncProblem] = []
    for run in latest_runs:
        if run.status == "failed":
            reason = redact_text(run.error) or "no reason"
            problems.append(SyncProblem(run.source, run.scope, f"last run failed: {reason}", run))
        elif run.waiting_for_confirmation:
            # Its message carries the numbers: "waiting for confirmation: would delete 6 of 10 apps (60%); ..."
            problems.append(SyncProblem(run.source, run.scope, run.progress_message or "waiting for confirmation",
                                        run))
        elif run.status == "succeeded" and run.finished_at and run.finished_at < stale_before:
            problems.append(SyncProblem(run.source, run.scope, "no successful run recently (stale data)", run))
    seen_sources = {run.source for run in latest_runs}
    for source in SYNC_SOURCES:
        if source not in seen_sources:
            problems.append(SyncProblem(source, "all", "never synchronised", None))
    return Panel(rows=problems[:SHOWN], total=len(problems))

