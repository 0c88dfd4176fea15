"""Job: alert on operations that have been pending or running for too long."""
from __future__ import annotations

from app.extensions import db
from app.models import utcnow
from app.operations import stuck_operations
from jobs.context import panel


def check_stuck_operations() -> int:
    panel()
    return len(stuck_operations.check(db.session, utcnow()))
