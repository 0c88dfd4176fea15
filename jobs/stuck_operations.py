"""Job: mark stale, and alert on, operations in progress longer than their kind's threshold."""
from __future__ import annotations

from app.extensions import db
from app.models import utcnow
from app.operations import stuck_operations
from app.queues import job_gone
from jobs.context import panel


def check_stuck_operations() -> int:
    app = panel()
    return len(stuck_operations.check(db.session, utcnow(), app.config["SETTINGS"].operation_stale_minutes,
                                      job_gone=job_gone))
