"""Job: run every alert check and deliver what is pending (cron every 15 minutes, and right after each sync)."""
from __future__ import annotations

from app.extensions import db
from app.models import utcnow
from app.operations import alert_checks
from app.queues import job_gone, redis_connection
from app.sync.locks import redis_locks
from jobs.context import panel

LOCK_WAIT_SECONDS = 60  # a run right after a sync waits for one in progress rather than skip the news


def run_alerts() -> dict[str, int]:
    """Check and notify; returns how many notices were delivered and how many failed (retried next run)."""
    settings = panel().config["SETTINGS"]
    report = alert_checks.run_configured(db.session, settings, utcnow(),
                                         redis_locks(redis_connection(), wait_seconds=LOCK_WAIT_SECONDS), job_gone)
    return {"delivered": len(report.outcomes) - len(report.failures), "failed": len(report.failures)}
