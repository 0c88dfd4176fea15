"""Asking for a sync: a request joins an open one that covers it, except after a change once that one started."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import SyncRequest
from app.operations import sync_requests
from app.queues import queue
from tests import factories as make


@pytest.fixture
def sync_queue(app):
    sync = queue("sync")
    sync.empty()
    yield sync
    sync.empty()


def test_after_a_change_only_a_request_that_has_not_started_fetching_is_joined(db_session, sync_queue):
    first = sync_requests.request_sync(db_session, sync_queue, "cloudflare", None, "alice")
    joined = sync_requests.request_sync(db_session, sync_queue, "cloudflare", None, "change-set", after_change=True)
    assert joined.already_open and joined.request.id == first.request.id and sync_queue.count == 1

    # Its Cloudflare run has started: it may have read the zones before the change, so a fresh request is queued.
    make.sync_run(db_session, "cloudflare", "all", "running", request_id=first.request.id)
    db_session.commit()
    again = sync_requests.request_sync(db_session, sync_queue, "cloudflare", None, "change-set", after_change=True)
    assert not again.already_open and sync_queue.count == 2
    # Its scope jobs will wait for the running one rather than skip: the copy must follow the change.
    assert sync_queue.fetch_job(again.job_id).kwargs == {"request_id": again.request.id,
                                                         "lock_wait": sync_requests.AFTER_CHANGE_LOCK_WAIT}
    assert sync_queue.fetch_job(first.job_id).kwargs == {"request_id": first.request.id}
    clicked = sync_requests.request_sync(db_session, sync_queue, "cloudflare", None, "bob")
    assert clicked.already_open and clicked.request.id == again.request.id  # a click joins the newest open one
    assert [row.requested_by for row in db_session.scalars(select(SyncRequest).order_by(SyncRequest.id))] == [
        "alice", "change-set"]


def test_an_unknown_source_queues_nothing(db_session, sync_queue):
    with pytest.raises(sync_requests.SyncRequestError, match="Unknown source 'ftp'"):
        sync_requests.request_sync(db_session, sync_queue, "ftp", None, "alice")
    assert sync_queue.count == 0 and db_session.scalars(select(SyncRequest)).all() == []
