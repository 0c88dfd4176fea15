"""Keeping every app's limits at its limit set: only the differing keys are posted, one app at a time.

Each config POST is a release and a deploy on the cluster, so apps are done one after the other with a pause
between two writes (`LIMITS_ENFORCE_INTERVAL_SECONDS`). The candidates come from the last sync's rows; each one's
config is read from the controller again just before the write, so only what still differs is sent. A 409 "changed
nothing" is success. A failure is reported with the controller's own words and the run goes on with the next app.
A dry run reads the same and writes nothing: no POST, no audit event, no sync.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rq import Queue
from rq.job import Job
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.clients import NotConfigured
from app.limit_values import LimitDifference, limit_differences
from app.models import App, Cluster, User
from app.operations.limit_sets import refresh_drift
from app.operations.sync_requests import request_sync
from app.queries.limit_comparison import drift_report
from app.services.deis import DeisClient, DeisError

# What an app's enforcement came to.
FIXED, UNCHANGED, WOULD_FIX, FAILED = "fixed", "already matching", "would fix", "failed"


@dataclass
class AppEnforcement:
    """One app: the keys it differed in, what was (or would be) posted, and how it ended."""

    cluster: str
    app: str
    differences: list[LimitDifference]
    outcome: str
    error: str | None = None

    @property
    def payload(self) -> dict[str, dict[str, str | None]]:
        return posted_keys(self.differences)


@dataclass
class EnforcementReport:
    """Every app a run looked at, in order; `failed` lists those it could not fix."""

    dry_run: bool
    apps: list[AppEnforcement] = field(default_factory=list)
    syncs_requested: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[AppEnforcement]:
        return [item for item in self.apps if item.outcome == FAILED]

    @property
    def fixed(self) -> list[AppEnforcement]:
        return [item for item in self.apps if item.outcome == FIXED]


def posted_keys(differences: list[LimitDifference]) -> dict[str, dict[str, str | None]]:
    """The config POST body for `differences`: `{"memory": {"web": "64M"}, "cpu": {"worker": None}}`."""
    payload: dict[str, dict[str, str | None]] = {}
    for difference in differences:
        payload.setdefault(difference.kind, {})[difference.process_type] = difference.wanted
    return payload


def enforce_limits(session: Session, deis_for: Callable[[str], DeisClient], actor: User | str, *,
                   cluster: str | None = None, app_id: int | None = None, dry_run: bool = False,
                   interval_seconds: float = 2.0, sync_queue: Queue | None = None,
                   sleep: Callable[[float], None] = time.sleep) -> EnforcementReport:
    """Bring every drifting app (of `cluster`, or just `app_id`) to its limit set; never stops at a failure.

    After writing, a Deis sync of each cluster written to is requested on `sync_queue` (when given).
    """
    report = EnforcementReport(dry_run=dry_run)
    clients: dict[str, DeisClient] = {}
    written_clusters: list[str] = []
    wrote_before = False
    for drift in drift_report(session, cluster=cluster, app_id=app_id):
        app, limit_set = drift.app, drift.limit_set
        cluster_name = app.cluster.name
        try:
            deis = clients.get(cluster_name) or clients.setdefault(cluster_name, deis_for(cluster_name))
            live = deis.get_config(app.name)
            differences = limit_differences(app.structure or {}, live.memory, live.cpu, limit_set.memory,
                                            limit_set.cpu, limit_set.unset_extra)
        except (DeisError, NotConfigured) as error:
            report.apps.append(AppEnforcement(cluster_name, app.name, drift.differences, FAILED, str(error)))
            _record_failure(session, actor, app, drift.differences, str(error), dry_run)
            continue
        if not differences:
            # The controller already has it (the sync is behind): nothing to post.
            report.apps.append(AppEnforcement(cluster_name, app.name, [], UNCHANGED))
            if not dry_run:
                _remember_config(session, app, live.memory, live.cpu)
            continue
        if dry_run:
            report.apps.append(AppEnforcement(cluster_name, app.name, differences, WOULD_FIX))
            continue
        payload = posted_keys(differences)
        if wrote_before:
            sleep(interval_seconds)  # each write is a deploy: spread them out
        wrote_before = True
        try:
            written = deis.set_limits(app.name, memory=payload.get("memory"), cpu=payload.get("cpu"))
        except DeisError as error:
            report.apps.append(AppEnforcement(cluster_name, app.name, differences, FAILED, str(error)))
            _record_failure(session, actor, app, differences, str(error), dry_run)
            continue
        before = {kind: {proc: getattr(live, kind).get(proc) for proc in keys} for kind, keys in payload.items()}
        if written is None:  # 409 "changed nothing": it has these values already (set meanwhile)
            report.apps.append(AppEnforcement(cluster_name, app.name, differences, UNCHANGED))
            _remember_config(session, app, _merged(live.memory, payload.get("memory", {})),
                             _merged(live.cpu, payload.get("cpu", {})))
        else:
            report.apps.append(AppEnforcement(cluster_name, app.name, differences, FIXED))
            audit.record(session, actor=actor, action="limits.enforce", target=app, before=before, after=payload)
            _remember_config(session, app, written.memory, written.cpu)
        if cluster_name not in written_clusters:
            written_clusters.append(cluster_name)
        session.commit()
    if sync_queue is not None and not dry_run:
        for cluster_name in written_clusters:
            request_sync(session, sync_queue, "deis", cluster_name, actor, after_change=True)
            report.syncs_requested.append(cluster_name)
    return report


def _merged(limits: dict, posted: dict) -> dict:
    merged = {**limits, **posted}
    return {proc: value for proc, value in merged.items() if value is not None}


def _remember_config(session: Session, app: App, memory: dict, cpu: dict) -> None:
    """Keep the limits the controller answered with, so the drift shown is right before the next sync."""
    app.memory, app.cpu = dict(memory), dict(cpu)
    refresh_drift(session, app.cluster_id, apps=[app])
    session.commit()


def _record_failure(session: Session, actor: User | str, app: App, differences: list[LimitDifference],
                    reason: str, dry_run: bool) -> None:
    if dry_run:
        return
    audit.record(session, actor=actor, action="limits.enforce_failed", target=app, after={
        "wanted": posted_keys(differences), "error": reason})
    session.commit()


ENFORCE_JOB = "jobs.limits.enforce_limits_job"
ENFORCE_JOB_TIMEOUT = 3600  # seconds: a deploy per app, one after the other


class EnforcementRequestError(ValueError):
    """A request naming a cluster or app the panel does not know; nothing was enqueued."""


def request_enforcement(session: Session, jobs: Queue, actor: User | str, *, cluster: str | None = None,
                        app_id: int | None = None) -> Job:
    """Enqueue an enforcement of one cluster, one app, or everything (an admin's button); audited, committed."""
    target = "all"
    if app_id is not None:
        app = session.get(App, app_id)
        if app is None:
            raise EnforcementRequestError(f"No app #{app_id}.")
        cluster, target = None, f"{app.cluster.name}/{app.name}"
    elif cluster:
        if session.scalar(select(Cluster.id).where(Cluster.name == cluster)) is None:
            raise EnforcementRequestError(f"No cluster called {cluster[:64]!r}.")
        target = cluster
    else:
        cluster = None
    actor_name = actor if isinstance(actor, str) else actor.username
    job = jobs.enqueue(ENFORCE_JOB, cluster, app_id, actor_name, job_timeout=ENFORCE_JOB_TIMEOUT)
    audit.record(session, actor=actor, action="limits.enforce_request", target=target,
                 after={"cluster": cluster, "app_id": app_id, "job_id": job.id})
    session.commit()
    return job
