"""Job: alert on RQ jobs waiting too long for a worker or running longer than expected (cron, every 5 minutes)."""
from __future__ import annotations

from datetime import timedelta

from app.extensions import db
from app.models import utcnow
from app.operations import job_watchdog
from app.queues import QUEUE_NAMES, queue
from jobs.context import panel


def watch_jobs() -> int:
    """Check every panel queue; returns how many jobs are late."""
    settings = panel().config["SETTINGS"]
    problems = job_watchdog.check(db.session, [queue(name) for name in QUEUE_NAMES], utcnow(),
                                  timedelta(minutes=settings.job_queued_alert_minutes),
                                  timedelta(minutes=settings.job_running_alert_minutes))
    return len(problems)
