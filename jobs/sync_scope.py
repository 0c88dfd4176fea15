"""Job: synchronise one (source, scope) of a sync request, under that scope's lock; relations are left to the
request's final job."""
from __future__ import annotations

from rq import get_current_job

from app.clients import for_config
from app.extensions import db
from app.queues import redis_connection
from app.sync import runner
from app.sync.locks import redis_locks
from jobs.context import panel


def sync_scope(request_id: int | None, source: str, scope: str, actor: str | None = None,
               allow_mass_delete: bool = False, allow_up_to: int | None = None, lock_wait: float = 0) -> str:
    """Run the scope; returns the run's status, or "skipped" when another run of the scope holds its lock (after
    waiting `lock_wait` seconds for it). A failed run raises (the job fails) after recording why; it deleted
    nothing."""
    app = panel()
    job = get_current_job()
    locks = redis_locks(redis_connection(), wait_seconds=lock_wait,
                        lock_seconds=app.config["SETTINGS"].sync_lock_seconds)
    run = runner.run_one(db.session, for_config(app.config), locks,
                         runner.SyncScope(source, scope), job_id=job.id if job else None, request_id=request_id,
                         triggered_by=actor or "cron", rebuild_relations=False,
                         allow_mass_delete=allow_mass_delete, allow_up_to=allow_up_to)
    return run.status if run is not None else "skipped"
