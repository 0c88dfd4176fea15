"""Job: apply a DNS change set (a plan, a resume, or a rollback) with live progress on the change set's row."""
from __future__ import annotations

from app.clients import for_config
from app.extensions import db
from app.operations import change_sets
from app.queues import queue
from jobs.context import panel


def apply_change_set(change_set_id: int) -> str:
    """Apply the change set; returns the state it ended in (applied, conflict, failed, partially_applied)."""
    return change_sets.apply(db.session, for_config(panel().config).cloudflare(), change_set_id,
                             sync_queue=queue("sync")).state
