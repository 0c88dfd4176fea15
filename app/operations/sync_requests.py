"""Asking for a synchronisation now, or confirming the deletions a run held back: validate, enqueue the job on the
`sync` queue, audit the request."""
from __future__ import annotations

from rq import Queue
from rq.job import Job
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import audit
from app.models import Cluster, SyncRun, User
from app.queries.sync_status import SYNC_ALL_JOB, SYNC_SOURCE_JOB, SYNC_SOURCES

SCOPED_SOURCE = "deis"  # only Deis runs are scoped from this page: one cluster at a time
JOB_TIMEOUT = {SYNC_SOURCE_JOB: 600, SYNC_ALL_JOB: 900}  # seconds; a sync of everything fetches three sources


class SyncRequestError(ValueError):
    """A sync request naming an unknown source or cluster; the message is shown as is and nothing is enqueued."""


class NothingToConfirm(SyncRequestError):
    """A confirmation of a run that no longer waits for one (confirmed already, or a later run came since)."""


def validated_request(session: Session, source: str | None, scope: str | None) -> tuple[str | None, str | None]:
    """`(source, scope)` cleaned up, or SyncRequestError saying what is wrong."""
    source = (source or "").strip() or None
    scope = (scope or "").strip() or None
    if source is not None and source not in SYNC_SOURCES:
        raise SyncRequestError(f"Unknown source {source[:40]!r}: choose one of {', '.join(SYNC_SOURCES)}.")
    if scope is not None:
        if source != SCOPED_SOURCE:
            raise SyncRequestError("Only a Deis sync takes a scope (a cluster name); leave it empty for this source.")
        if session.scalar(select(Cluster.id).where(Cluster.name == scope)) is None:
            raise SyncRequestError(f"No cluster called {scope[:64]!r}.")
    return source, scope


def request_sync(
    session: Session, sync_queue: Queue, source: str | None, scope: str | None, actor: User | str
) -> Job:
    """Enqueue a sync of `source` (all sources when None), limited to cluster `scope` for Deis; audited, committed."""
    source, scope = validated_request(session, source, scope)
    actor_name = actor if isinstance(actor, str) else actor.username
    if source is None:
        job = sync_queue.enqueue(SYNC_ALL_JOB, actor_name, job_timeout=JOB_TIMEOUT[SYNC_ALL_JOB])
    else:
        job = sync_queue.enqueue(SYNC_SOURCE_JOB, source, scope, actor_name, job_timeout=JOB_TIMEOUT[SYNC_SOURCE_JOB])
    audit.record(
        session, actor=actor, action="sync.request", target=f"{source or 'all'}/{scope or 'all'}",
        after={"source": source or "all", "scope": scope or "all", "job_id": job.id},
    )
    session.commit()
    return job


def confirm_deletion(session: Session, sync_queue: Queue, run: SyncRun, actor: User | str) -> Job:
    """Enqueue a run of `run`'s source and scope that applies the deletions `run` held back; audited, committed.

    The new run fetches again and deletes what its own listing says is gone, up to the number confirmed here: a
    listing that shrank further since waits for a confirmation of its own.
    """
    latest_id = session.scalar(
        select(func.max(SyncRun.id)).where(SyncRun.source == run.source, SyncRun.scope == run.scope)
    )
    label = f"Run #{run.id} of {run.source}/{run.scope}"
    if not run.waiting_for_confirmation:
        raise NothingToConfirm(f"{label} is {run.status}: it has no deletions waiting for a confirmation.")
    if run.id != latest_id:
        # Its numbers are old news: the later run's own listing decides what waits now.
        raise NothingToConfirm(f"{label} no longer waits for a confirmation: a later run of this scope came since."
                               " Confirm the latest one, if it still waits.")
    actor_name = actor if isinstance(actor, str) else actor.username
    confirmed = run.pending_deletion_count
    job = sync_queue.enqueue(SYNC_SOURCE_JOB, run.source, run.scope, actor_name, allow_mass_delete=True,
                             allow_up_to=confirmed, job_timeout=JOB_TIMEOUT[SYNC_SOURCE_JOB])
    audit.record(
        session, actor=actor, action="sync.confirm_deletion", target=f"{run.source}/{run.scope}",
        before={"run_id": run.id, "status": run.status, "pending_deletions": run.pending_deletions},
        after={"source": run.source, "scope": run.scope, "allow_up_to": confirmed, "job_id": job.id},
    )
    session.commit()
    return job
