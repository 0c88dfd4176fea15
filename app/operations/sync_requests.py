"""Asking for a synchronisation now, or confirming the deletions a run held back: validate, record the request,
enqueue its fan-out on the `sync` queue, audit it. The fan-out (run by a worker) queues one job per (source, scope)
and a final job that rebuilds the relations once, after every scope job, whether they succeeded or not."""
from __future__ import annotations

from dataclasses import dataclass
from rq import Queue
from rq.job import Dependency
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import audit
from app.clients import PlatformClients
from app.models import Cluster, SyncRequest, SyncRun, User, utcnow
from app.models.sync import SYNC_REQUEST_OPEN
from app.redaction import redact_text
from app.queries.sync_status import (SYNC_FANOUT_JOB, SYNC_FINISH_JOB, SYNC_SCOPE_JOB, SYNC_SOURCES,
                                     request_title, still_open)
from app.sync import runner
from app.sync.platform import ensure_clusters

SCOPED_SOURCE = "deis"  # only Deis runs are scoped from this page: one cluster at a time
FANOUT_TIMEOUT = 120  # seconds: planning and queueing, no fetching
SCOPE_TIMEOUT = {"deis": 600, "aws": 600, "cloudflare": 600}
FINISH_TIMEOUT = 600  # the relations rebuild waits for another request's rebuild first
# After a change, a scope job waits this long for a run of its scope already going (which may predate the change)
# rather than skip: the panel's copy must follow the change.
AFTER_CHANGE_LOCK_WAIT = 300


class SyncRequestError(ValueError):
    """A sync request naming an unknown source or cluster; the message is shown as is and nothing is enqueued."""


class NothingToConfirm(SyncRequestError):
    """A confirmation of a run that no longer waits for one (confirmed already, or a later run came since)."""


@dataclass
class Requested:
    """A request as asked for: a new one, or the open one that already covers it (nothing new was queued)."""

    request: SyncRequest
    already_open: bool = False

    @property
    def job_id(self) -> str | None:
        return self.request.job_id


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


def open_request_covering(session: Session, connection, source: str | None, scope: str | None, *,
                          not_started: bool = False) -> SyncRequest | None:
    """The newest open request that already syncs everything `source`/`scope` asks for, if any; with
    `not_started`, only one none of whose scopes has started fetching yet (so it will see a change made now).

    Requests left open by a worker that died are closed here ("interrupted") so they never block a new one.
    """
    for request in session.scalars(
        select(SyncRequest).where(SyncRequest.status == SYNC_REQUEST_OPEN).order_by(SyncRequest.id.desc())
    ):
        if not still_open(request, connection):
            request.status, request.finished_at = "failed", utcnow()
            request.error = request.error or "interrupted: its jobs stopped before the request finished"
            continue
        if not request.covers(source, scope):
            continue
        if not_started and session.scalar(select(SyncRun.id).where(SyncRun.request_id == request.id).limit(1)):
            continue
        return request
    return None


def request_sync(
    session: Session, sync_queue: Queue, source: str | None, scope: str | None, actor: User | str, *,
    after_change: bool = False,
) -> Requested:
    """Queue a sync of `source` (all sources when None), limited to cluster `scope` for Deis; audited, committed.

    While a request covering the same scopes is queued or running, that one is returned and nothing is queued.
    `after_change` (the panel just changed the source): only a request that has not started fetching will do,
    since a running one may have read the source before the change.
    """
    source, scope = validated_request(session, source, scope)
    actor_name = actor if isinstance(actor, str) else actor.username
    # Two clicks arriving together must not both find "nothing open": one at a time decides.
    with sync_queue.connection.lock("sync-request-lock", timeout=30, blocking_timeout=10):
        existing = open_request_covering(session, sync_queue.connection, source, scope, not_started=after_change)
        if existing is not None:
            session.commit()
            return Requested(existing, already_open=True)
        request = SyncRequest(title=request_title(source, scope), source=source, scope=scope,
                              requested_by=actor_name)
        session.add(request)
        session.commit()
        options = {"lock_wait": AFTER_CHANGE_LOCK_WAIT} if after_change else {}
        job = sync_queue.enqueue(SYNC_FANOUT_JOB, source, scope, actor_name, request_id=request.id, **options,
                                 job_timeout=FANOUT_TIMEOUT, description=request.title)
        request.job_id = job.id
        audit.record(
            session, actor=actor, action="sync.request", target=f"{source or 'all'}/{scope or 'all'}",
            after={"source": source or "all", "scope": scope or "all", "request_id": request.id},
        )
        session.commit()
    return Requested(request)


def confirm_deletion(session: Session, sync_queue: Queue, run: SyncRun, actor: User | str) -> Requested:
    """Queue a run of `run`'s source and scope that applies the deletions `run` held back; audited, committed.

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
    request = SyncRequest(title=f"Confirmed deletions of {runner.SyncScope(run.source, run.scope).label}",
                          source=run.source, scope=run.scope, requested_by=actor_name)
    session.add(request)
    session.commit()
    job = sync_queue.enqueue(SYNC_FANOUT_JOB, run.source, run.scope, actor_name, allow_mass_delete=True,
                             allow_up_to=confirmed, request_id=request.id, job_timeout=FANOUT_TIMEOUT,
                             description=request.title)
    request.job_id = job.id
    audit.record(
        session, actor=actor, action="sync.confirm_deletion", target=f"{run.source}/{run.scope}",
        before={"run_id": run.id, "status": run.status, "pending_deletions": run.pending_deletions},
        after={"source": run.source, "scope": run.scope, "allow_up_to": confirmed, "request_id": request.id},
    )
    session.commit()
    return Requested(request)


def fan_out(
    session: Session, sync_queue: Queue, clients: PlatformClients, source: str | None, scope: str | None,
    actor: str, *, request_id: int | None = None, fanout_job_id: str | None = None,
    allow_mass_delete: bool = False, allow_up_to: int | None = None, lock_wait: float = 0,
) -> SyncRequest:
    """Queue one job per (source, scope) of the request and the final job that depends on them all.

    Without `request_id` (the schedule) this creates the request, unless an open one covers it already.
    `lock_wait`: seconds a scope job waits for a run of its scope already going, instead of skipping.
    """
    request = session.get(SyncRequest, request_id) if request_id is not None else None
    if request is None:
        with sync_queue.connection.lock("sync-request-lock", timeout=30, blocking_timeout=10):
            existing = open_request_covering(session, sync_queue.connection, source, scope)
            if existing is not None:
                session.commit()
                return existing  # the last scheduled run is still going: do not pile another behind it
            request = SyncRequest(title=request_title(source, scope), source=source, scope=scope,
                                  requested_by=actor, job_id=fanout_job_id)
            session.add(request)
            session.commit()
    try:
        scopes = runner.plan(clients, source, scope)
        if any(each.source in ("deis", "aws") for each in scopes):
            # Once, before the scope jobs: concurrent first syncs must not race to create the same cluster rows.
            ensure_clusters(session, clients.cluster_configs())
    except Exception as error:  # recorded: the page must say why nothing ran
        session.rollback()
        request.status, request.finished_at = "failed", utcnow()
        request.error = (redact_text(str(error)) or type(error).__name__)[:2000]
        session.commit()
        raise
    session.commit()
    waits = {"lock_wait": lock_wait} if lock_wait else {}
    scope_jobs = [
        sync_queue.enqueue(SYNC_SCOPE_JOB, request.id, each.source, each.scope, actor,
                           allow_mass_delete=allow_mass_delete, allow_up_to=allow_up_to, **waits,
                           job_timeout=SCOPE_TIMEOUT[each.source] + int(lock_wait),
                           description=f"{request.title}: {each.label}")
        for each in scopes
    ]
    depends_on = Dependency(jobs=scope_jobs, allow_failure=True) if scope_jobs else None
    finish = sync_queue.enqueue(SYNC_FINISH_JOB, request.id, depends_on=depends_on, job_timeout=FINISH_TIMEOUT,
                                description=f"{request.title}: relations")
    request.scope_jobs = [{"source": each.source, "scope": each.scope, "job_id": job.id}
                          for each, job in zip(scopes, scope_jobs)]
    request.finish_job_id = finish.id
    session.commit()
    return request
