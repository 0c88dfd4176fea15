"""Job: bring every drifting app back to its limit set (hourly from cron, or a cluster or app from a button)."""
from __future__ import annotations

from app.clients import for_config
from app.extensions import db
from app.operations.limits_enforcement import enforce_limits
from app.queries.sync_status import SYNC_QUEUE
from app.queues import queue
from jobs.context import panel


def enforce_limits_job(cluster: str | None = None, app_id: int | None = None, actor: str | None = None) -> list[str]:
    """Enforce, then ask for a sync of each cluster written to; returns (and fails the job with) the apps not fixed."""
    app = panel()
    settings = app.config["SETTINGS"]
    report = enforce_limits(db.session, for_config(app.config).deis, actor or "cron", cluster=cluster, app_id=app_id,
                            interval_seconds=settings.limits_enforce_interval, sync_queue=queue(SYNC_QUEUE))
    failures = [f"{item.cluster}/{item.app}: {item.error}" for item in report.failed]
    if failures:
        raise RuntimeError("; ".join(failures))  # marks the job failed; each failure is in the audit log as well
    return failures
