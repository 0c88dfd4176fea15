"""Running synchronizations: one source and scope, or everything, each recorded as its own SyncRun.

The workers run one scope per job (`run_one(..., rebuild_relations=False)`) and a final job rebuilds the relations
once for the whole request (`finish`); `flask sync run` runs the scopes one after another in its own process.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.clients import PlatformClients
from app.models import Cluster, SyncRun
from app.sync import aws as aws_sync
from app.sync import deis as deis_sync
from app.sync import dns as dns_sync
from app.sync import relations
from app.sync.deletion_guard import DeletionGuard
from app.sync.platform import ensure_clusters
from app.sync.runs import LockFactory, Outcome, Progress, SyncFailed, run_recorded

SOURCES = ("deis", "aws", "cloudflare")


class UnknownScope(ValueError):
    """A sync was asked for a source or scope the panel does not know; the message lists the valid ones."""


@dataclass(frozen=True)
class SyncScope:
    """One (source, scope) pair: what one job syncs under one lock."""

    source: str
    scope: str

    @property
    def label(self) -> str:
        return self.source if self.scope == dns_sync.ALL else f"{self.source} / {self.scope}"


def scopes(clients: PlatformClients, source: str) -> list[str]:
    """Every scope of a source: clusters for Deis, regions for AWS, all zones at once for Cloudflare."""
    if source == "deis":
        return [cluster["name"] for cluster in clients.cluster_configs()]
    if source == "aws":
        return clients.aws_regions()
    if source == "cloudflare":
        return [dns_sync.ALL]
    raise UnknownScope(f"unknown source {source!r}; sources are {', '.join(SOURCES)}")


def plan(clients: PlatformClients, source: str | None = None, scope: str | None = None) -> list[SyncScope]:
    """The runs a request stands for, validated: `None` means every source, or every scope of the source."""
    sources = SOURCES if source is None else (source,)
    requests = []
    for name in sources:
        known = scopes(clients, name)
        if scope is None:
            requests.extend(SyncScope(name, each) for each in known)
        elif name == "cloudflare" or scope in known:
            requests.append(SyncScope(name, scope))  # a Cloudflare scope is a zone name, checked when fetched
        else:
            raise UnknownScope(f"{name} has no scope {scope!r}; known: {', '.join(known) or 'none configured'}")
    return requests


def run_one(
    session: Session,
    clients: PlatformClients,
    lock: LockFactory,
    request: SyncScope,
    *,
    job_id: str | None = None,
    request_id: int | None = None,
    rebuild_relations: bool = True,
    triggered_by: str | None = None,
    listeners: list[Callable[[int, str], None]] | None = None,
    allow_mass_delete: bool = False,
    allow_up_to: int | None = None,
) -> SyncRun | None:
    """Run one recorded sync (and rebuild relations unless the request's final job will); raises SyncFailed (after
    recording it) when it fails, None when another run of the scope holds its lock.

    A run that would delete a large part of the scope deletes nothing and ends `needs_confirmation`, unless
    `allow_mass_delete` (then at most `allow_up_to` deletions when given: the number an admin confirmed).
    """

    def body(progress: Progress) -> Outcome:
        guard = DeletionGuard(clients.settings.sync_max_delete_fraction, allow_mass_delete, allow_up_to)
        if request.source == "deis":
            ensure_clusters(session, clients.cluster_configs())
            cluster = session.scalar(select(Cluster).where(Cluster.name == request.scope))
            outcome = deis_sync.synchronize(session, clients.deis(request.scope), cluster, progress, guard)
        elif request.source == "aws":
            ensure_clusters(session, clients.cluster_configs())
            outcome = aws_sync.synchronize(session, clients.aws(request.scope), progress, guard)
        else:
            outcome = dns_sync.synchronize(session, clients.cloudflare(), request.scope, progress, guard)
        if rebuild_relations:
            relations.rebuild(session)
        return replace(outcome, pending_deletions=guard.pending)

    return run_recorded(session, source=request.source, scope=request.scope, lock=lock, body=body, job_id=job_id,
                        request_id=request_id, triggered_by=triggered_by, listeners=listeners)


def run_many(session: Session, clients: PlatformClients, lock: LockFactory, requests: list[SyncScope],
             **kwargs) -> tuple[list[SyncRun], list[str]]:
    """Run each request; a failure of one does not stop the others. Returns the runs and the failure reasons."""
    runs, failures = [], []
    for request in requests:
        try:
            run = run_one(session, clients, lock, request, **kwargs)
        except SyncFailed as error:
            failures.append(f"{request.source}/{request.scope}: {error}")
            continue
        if run is not None:
            runs.append(run)
    return runs, failures
