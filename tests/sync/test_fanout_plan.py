"""The fan-out's plan, in process: one scope job per cluster, region or Cloudflare account, and a final job that
waits for all of them, failures allowed."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import Cluster, SyncRequest
from app.operations import sync_requests
from app.queues import queue


@pytest.fixture
def sync_queue(app):
    sync = queue("sync")
    sync.empty()
    yield sync
    sync.empty()


def test_every_scope_gets_a_job_and_the_final_job_depends_on_them_all(db_session, clients, sync_queue):
    request = sync_requests.fan_out(db_session, sync_queue, clients, None, None, "cron", lock_wait=300)
    planned = [(each["source"], each["scope"]) for each in request.scope_jobs]
    assert planned == [("deis", "eu-prod"), ("deis", "us-prod"), ("deis", "us-mon"),
                       *[("aws", region) for region in clients.aws_regions()], ("cloudflare", "all")]
    assert request.title == "Sync of every source" and request.requested_by == "cron" and request.is_open
    jobs = [sync_queue.fetch_job(each["job_id"]) for each in request.scope_jobs]
    assert {job.func_name for job in jobs} == {"jobs.sync_scope.sync_scope"}
    assert jobs[0].args == (request.id, "deis", "eu-prod", "cron")
    assert jobs[0].kwargs == {"allow_mass_delete": False, "allow_up_to": None, "lock_wait": 300}
    assert jobs[0].timeout == sync_requests.SCOPE_TIMEOUT["deis"] + 300
    finish = sync_queue.fetch_job(request.finish_job_id)
    assert finish.func_name == "jobs.sync_finish.finish_sync" and finish.args == (request.id,)
    assert set(finish._dependency_ids) == {job.id for job in jobs} and finish.allow_dependency_failures
    assert finish.get_status() == "deferred"  # it waits for the scopes
    # The cluster rows exist before any scope job runs: concurrent first syncs never race to create them.
    assert sorted(db_session.scalars(select(Cluster.name))) == ["eu-prod", "us-mon", "us-prod"]

    # The next tick of the schedule while this one is open queues nothing.
    again = sync_requests.fan_out(db_session, sync_queue, clients, None, None, "cron")
    assert again.id == request.id and len(db_session.scalars(select(SyncRequest)).all()) == 1
    assert sync_queue.count == len(jobs)


def test_an_unknown_scope_fails_the_request_with_its_reason(db_session, clients, sync_queue):
    with pytest.raises(ValueError, match="deis has no scope 'mars'"):
        sync_requests.fan_out(db_session, sync_queue, clients, "deis", "mars", "alice")
    request = db_session.scalars(select(SyncRequest)).one()
    assert request.status == "failed" and "deis has no scope 'mars'" in request.error
    assert request.finished_at is not None and sync_queue.count == 0
