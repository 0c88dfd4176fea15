"""Job: the last of a sync request, run after every scope job (failed ones too): rebuild the relations once, record
how the request ended, and let the alerts look at the new state."""
from __future__ import annotations

from app.extensions import db
from app.queues import queue, redis_connection
from app.sync.finish import finish_request
from app.sync.locks import redis_locks
from jobs.alerts import run_alerts
from jobs.context import panel

RELATIONS_WAIT = 300  # seconds another request's rebuild may keep us waiting


def finish_sync(request_id: int) -> str | None:
    """Returns the request's outcome (succeeded, failed, needs_confirmation)."""
    panel()
    request = finish_request(db.session, redis_locks(redis_connection(), wait_seconds=RELATIONS_WAIT), request_id)
    queue("default").enqueue(run_alerts)  # new events, expiries and failing sources are told right away
    return request.status if request is not None else None
