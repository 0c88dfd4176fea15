"""Watching the RQ queues: jobs waiting too long for a worker, and jobs running longer than expected.

Read from RQ's own records (each queue's waiting jobs and its StartedJobRegistry); one alert per job, resolved once
the job has moved on.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from rq import Queue
from rq.job import Job
from rq.registry import StartedJobRegistry
from sqlalchemy.orm import Session

from app.operations.alerts import raise_alert, resolve_absent

QUEUED_KIND = "job_queued_too_long"
RUNNING_KIND = "job_running_too_long"
SCANNED = 1000  # the oldest jobs of a queue are at its head: a backlog beyond this is an alert of its own already


@dataclass(frozen=True)
class JobProblem:
    """One job that waits or runs for too long, as an alert describes it."""

    kind: str
    queue: str
    job_id: str
    job: str
    minutes: int
    message: str

    @property
    def dedup_key(self) -> str:
        return f"{self.kind}:{self.queue}:{self.job_id}"


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=timezone.utc)  # RQ keeps naive UTC times


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


def find_problems(queues: Iterable[Queue], now: datetime, queued_after: timedelta, running_after: timedelta
                  ) -> list[JobProblem]:
    """Jobs queued longer than `queued_after`, and jobs started longer ago than `running_after` or their own
    timeout, whichever is longer (a sync allowed ten minutes is not late at five)."""
    problems: list[JobProblem] = []
    for queue in queues:
        for job in Job.fetch_many(queue.get_job_ids(0, SCANNED - 1), connection=queue.connection):
            enqueued_at = _aware(job and job.enqueued_at)
            if enqueued_at is not None and now - enqueued_at > queued_after:
                minutes = _minutes(now - enqueued_at)
                problems.append(JobProblem(QUEUED_KIND, queue.name, job.id, job.func_name, minutes,
                                           f"job {job.func_name} has waited {minutes} minutes in queue {queue.name}"
                                           " (is a worker listening to it?)"))
        registry = StartedJobRegistry(queue=queue)
        for job in Job.fetch_many(registry.get_job_ids(), connection=queue.connection):
            started_at = _aware(job and job.started_at)
            if started_at is None:
                continue
            expected = max(running_after, timedelta(seconds=job.timeout or 0))
            if now - started_at > expected:
                minutes = _minutes(now - started_at)
                problems.append(JobProblem(RUNNING_KIND, queue.name, job.id, job.func_name, minutes,
                                           f"job {job.func_name} on queue {queue.name} has been running for {minutes}"
                                           f" minutes (expected at most {_minutes(expected)}; did its worker die?)"))
    return problems


def check(session: Session, queues: Iterable[Queue], now: datetime, queued_after: timedelta,
          running_after: timedelta) -> list[JobProblem]:
    """Alert once per late job and resolve the alerts of jobs that moved on; returns the late jobs."""
    problems = find_problems(queues, now, queued_after, running_after)
    for problem in problems:
        raise_alert(session, kind=problem.kind, dedup_key=problem.dedup_key, now=now, target=problem.job,
                    target_type="job", target_id=problem.job_id, message=problem.message)
    for kind in (QUEUED_KIND, RUNNING_KIND):
        resolve_absent(session, kind=kind, still_present={p.dedup_key for p in problems if p.kind == kind}, now=now)
    session.commit()
    return problems
