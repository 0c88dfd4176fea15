"""Jobs: synchronise every source, or one source and scope (after a change the panel made, or "Sync now")."""
from __future__ import annotations

from rq import get_current_job

from app.clients import for_config
from app.extensions import db
from app.queues import queue, redis_connection
from app.sync import runner
from app.sync.locks import redis_locks
from jobs.alerts import run_alerts
from jobs.context import panel


def _job_id() -> str | None:
    job = get_current_job()
    return job.id if job else None


def sync_source(source: str | None = None, scope: str | None = None, actor: str | None = None,
                allow_mass_delete: bool = False, allow_up_to: int | None = None) -> list[str]:
    """Sync one source (all its scopes when scope is None); returns the failures, if any.

    `allow_mass_delete` (an admin's confirmation) applies deletions the guard would hold back, at most
    `allow_up_to` of them when given.
    """
    app = panel()
    clients = for_config(app.config)
    requests = runner.plan(clients, source, scope)
    locks = redis_locks(redis_connection(), lock_seconds=app.config["SETTINGS"].sync_lock_seconds)
    _, failures = runner.run_many(db.session, clients, locks, requests,
                                  job_id=_job_id(), triggered_by=actor or "cron",
                                  allow_mass_delete=allow_mass_delete, allow_up_to=allow_up_to)
    queue("default").enqueue(run_alerts)  # new events, expiries and failing sources are told right away
    if failures:
        raise RuntimeError("; ".join(failures))  # marks the job failed; each run already records its reason
    return failures


def sync_all(actor: str | None = None) -> list[str]:
    """Sync every source and scope."""
    return sync_source(None, None, actor)
