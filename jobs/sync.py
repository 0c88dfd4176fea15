"""Job: fan a sync request out to one job per (source, scope) and a final relations job (the schedule's
`sync_all`, "Sync now", and the targeted syncs after a change the panel made)."""
from __future__ import annotations

from rq import get_current_job

from app.clients import for_config
from app.extensions import db
from app.operations import sync_requests
from app.queries.sync_status import SYNC_QUEUE
from app.queues import queue
from jobs.context import panel


def sync_source(source: str | None = None, scope: str | None = None, actor: str | None = None,
                allow_mass_delete: bool = False, allow_up_to: int | None = None,
                request_id: int | None = None, lock_wait: float = 0) -> list[str]:
    """Queue the scope jobs of one source (all its scopes when scope is None; every source when source is None);
    returns their job ids. `allow_mass_delete` (an admin's confirmation) applies up to `allow_up_to` deletions the
    guard would hold back; `lock_wait` (after a change) makes each scope wait for a run already going."""
    app = panel()
    job = get_current_job()
    request = sync_requests.fan_out(db.session, queue(SYNC_QUEUE), for_config(app.config), source, scope,
                                    actor or "cron", request_id=request_id, fanout_job_id=job.id if job else None,
                                    allow_mass_delete=allow_mass_delete, allow_up_to=allow_up_to,
                                    lock_wait=lock_wait)
    return [each["job_id"] for each in request.scope_jobs]


def sync_all(actor: str | None = None) -> list[str]:
    """Sync every source and scope (what the schedule runs)."""
    return sync_source(None, None, actor)
