"""The last step of a sync request: relations rebuilt once for every scope it synced, and how the request ended."""
from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import SyncRequest, SyncRun, utcnow
from app.redaction import redact_text
from app.models.operations import SYNC_NEEDS_CONFIRMATION
from app.sync import relations
from app.sync.runs import LockFactory

log = logging.getLogger(__name__)
RELATIONS_LOCK = "sync-lock:relations"


def request_outcome(runs: list[SyncRun]) -> str:
    """failed if a scope failed, needs_confirmation if one waits for an admin, else succeeded."""
    statuses = {run.status for run in runs}
    if "failed" in statuses:
        return "failed"
    if SYNC_NEEDS_CONFIRMATION in statuses:
        return SYNC_NEEDS_CONFIRMATION
    return "succeeded"


def finish_request(session: Session, lock: LockFactory, request_id: int) -> SyncRequest | None:
    """Rebuild the relations (one rebuild at a time across workers) and record how request `request_id` ended.

    Runs after every scope job, failed ones included: a failed scope wrote and deleted nothing, and the relations
    of the scopes that did sync must still follow them.
    """
    request = session.get(SyncRequest, request_id)
    if request is None:
        log.warning("sync request %s is gone; rebuilding relations anyway", request_id)
    try:
        with lock(RELATIONS_LOCK) as acquired:
            if not acquired:
                raise RuntimeError("another request kept the relations rebuild busy for too long")
            changed = relations.rebuild(session)
            session.commit()
    except Exception as error:
        session.rollback()
        if request is not None:
            request.status, request.finished_at = "failed", utcnow()
            request.error = f"the relations could not be rebuilt: {redact_text(str(error))[:1900]}"
            session.commit()
        raise
    if request is None:
        return None
    runs = list(session.scalars(select(SyncRun).where(SyncRun.request_id == request.id)))
    request.relations_changed, request.finished_at = changed, utcnow()
    request.status = request_outcome(runs)
    session.commit()
    return request
