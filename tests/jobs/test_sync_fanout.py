"""A sync request fans out over real RQ workers on the real Redis: one job per (source, scope), run side by side by
two worker processes, and one final relations job after them all, failed scopes included."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from redis import Redis
from rq import Queue, Worker
from rq.job import Job
from rq.registry import FinishedJobRegistry
from sqlalchemy import func, select

from app.extensions import db
from app.models import App, Cluster, SyncRequest, SyncRun
from app.queues import redis_url
from tests.jobs.test_sync_job import panel_env

WAIT_SECONDS = 180  # generous: the machine is shared; nothing here measures speed


@pytest.fixture
def sync_queue(app) -> Iterator[Queue]:
    queue = Queue("sync", connection=Redis.from_url(redis_url()))
    queue.empty()
    FinishedJobRegistry(queue=queue).cleanup(timestamp=int(time.time()) + 10**6)
    yield queue
    queue.empty()


@pytest.fixture
def start_workers(settings, sandbox, sync_queue):
    """Start `count` real `rq worker` processes on the sync queue and wait until each listens; stopped after."""
    started: list[subprocess.Popen] = []

    def start(count: int) -> list[subprocess.Popen]:
        url = redis_url()
        before = len(Worker.all(queue=sync_queue))
        for _ in range(count):
            started.append(subprocess.Popen(
                [sys.executable, "-m", "rq.cli", "worker", "--worker-class", "jobs.worker.PanelWorker", "-u", url,
                 "sync", "default"],
                env=panel_env(settings, sandbox, url), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            ))
        deadline = time.monotonic() + WAIT_SECONDS
        while len(Worker.all(queue=sync_queue)) < before + count:
            assert time.monotonic() < deadline, "the workers did not start"
            assert all(process.poll() is None for process in started), [p.stdout.read() for p in started]
            time.sleep(0.1)
        return started

    yield start
    for process in started:
        process.send_signal(signal.SIGTERM)  # a warm shutdown: the current job (if any) finishes first
    for process in started:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_finished(request_id: int) -> SyncRequest:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        db.session.expire_all()
        request = db.session.get(SyncRequest, request_id)
        if request is not None and request.finished_at is not None:
            return request
        assert time.monotonic() < deadline, "the request did not finish"
        time.sleep(0.2)


def finished_job(sync_queue: Queue, job_id: str) -> Job:
    """The job once RQ has recorded its end. The finish job writes the request's outcome before it returns, so the
    request row can say finished a moment before RQ marks the job finished."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        job = Job.fetch(job_id, connection=sync_queue.connection)
        if job.is_finished or job.is_failed:
            return job
        assert time.monotonic() < deadline, f"job {job_id} did not end: {job.get_status()}"
        time.sleep(0.1)


def fan_out(sync_queue: Queue, *args) -> int:
    """Queue the fan-out job as the schedule does, and wait for the request row it creates."""
    job = sync_queue.enqueue("jobs.sync.sync_source", *args)
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        db.session.expire_all()
        request_id = db.session.scalar(select(SyncRequest.id).where(SyncRequest.job_id == job.id))
        if request_id is not None:
            return request_id
        assert time.monotonic() < deadline, "the fan-out job did not run"
        time.sleep(0.1)


def overlaps(first: SyncRun, second: SyncRun) -> bool:
    return first.started_at < second.finished_at and second.started_at < first.finished_at


def test_two_workers_sync_the_scopes_side_by_side_and_relations_run_once_after_all(
        app, sandbox, sync_queue, start_workers):
    for cluster in ("eu-prod", "us-prod", "us-mon"):
        # Every Deis answer takes a while, so each scope lasts long enough for the other worker to take the next.
        sandbox.deis[cluster].faults.configure(latency_ms=150)
    start_workers(2)
    request_id = fan_out(sync_queue, "deis", None, "alice")
    request = wait_until_finished(request_id)

    runs = list(db.session.scalars(select(SyncRun).where(SyncRun.request_id == request_id).order_by(SyncRun.id)))
    assert sorted(run.scope for run in runs) == ["eu-prod", "us-mon", "us-prod"]
    assert {run.status for run in runs} == {"succeeded"} and request.status == "succeeded"
    assert {run.triggered_by for run in runs} == {"alice"}
    # Two scopes ran at the same time, on two different worker processes (told apart by their job ids' workers).
    assert any(overlaps(a, b) for a in runs for b in runs if a is not b), [(r.started_at, r.finished_at)
                                                                         for r in runs]
    workers = {Job.fetch(run.job_id, connection=sync_queue.connection).worker_name for run in runs}
    assert len(workers) == 2

    # The relations job: one per request, started only after the last scope finished.
    assert [each["job_id"] for each in request.scope_jobs] == [run.job_id for run in sorted(
        runs, key=lambda run: [e["scope"] for e in request.scope_jobs].index(run.scope))]
    finish = finished_job(sync_queue, request.finish_job_id)
    assert finish.func_name == "jobs.sync_finish.finish_sync" and finish.is_finished
    assert finish.return_value() == "succeeded"
    assert finish.started_at.replace(tzinfo=None) >= max(run.finished_at for run in runs).replace(tzinfo=None)
    finished = [Job.fetch(job_id, connection=sync_queue.connection)
                for job_id in FinishedJobRegistry(queue=sync_queue).get_job_ids()]
    assert sorted(job.func_name for job in finished) == sorted(
        ["jobs.sync.sync_source", "jobs.sync_finish.finish_sync"] + ["jobs.sync_scope.sync_scope"] * 3)
    assert request.relations_changed is not None
    assert db.session.scalar(select(func.count()).select_from(App)) > 0


def test_a_failing_scope_deletes_nothing_and_the_others_and_the_relations_job_still_run(
        app, sandbox, sync_queue, start_workers):
    start_workers(2)
    first = wait_until_finished(fan_out(sync_queue, "deis", None, "alice"))
    assert first.status == "succeeded"
    us_prod = db.session.scalar(select(Cluster.id).where(Cluster.name == "us-prod"))
    apps_before = set(db.session.scalars(select(App.name).where(App.cluster_id == us_prod)))
    assert apps_before

    sandbox.deis["us-prod"].faults.configure(error_rate=1.0, error_statuses=[503])  # its controller is down
    request = wait_until_finished(fan_out(sync_queue, "deis", None, "bob"))

    runs = {run.scope: run for run in db.session.scalars(select(SyncRun).where(SyncRun.request_id == request.id))}
    assert runs["us-prod"].status == "failed" and "503" in (runs["us-prod"].error or "")
    assert runs["eu-prod"].status == "succeeded" and runs["us-mon"].status == "succeeded"
    assert runs["us-prod"].deleted == 0
    assert set(db.session.scalars(select(App.name).where(App.cluster_id == us_prod))) == apps_before
    scope_job = Job.fetch(runs["us-prod"].job_id, connection=sync_queue.connection)
    assert scope_job.is_failed
    finish = finished_job(sync_queue, request.finish_job_id)
    assert finish.is_finished and finish.return_value() == "failed"  # it ran despite the failed dependency
    assert request.status == "failed" and request.relations_changed is not None


def test_the_schedule_does_not_pile_a_second_request_behind_an_open_one(app, sandbox, sync_queue, start_workers):
    # Two ticks of the schedule before any worker: the first fans out; the second finds it open and adds nothing.
    first, second = sync_queue.enqueue("jobs.sync.sync_all"), sync_queue.enqueue("jobs.sync.sync_all")
    start_workers(1)
    deadline = time.monotonic() + WAIT_SECONDS
    while not (first.refresh() or first.is_finished) or not (second.refresh() or second.is_finished):
        assert time.monotonic() < deadline and not first.is_failed and not second.is_failed
        time.sleep(0.2)
    [request] = db.session.scalars(select(SyncRequest)).all()
    assert request.job_id == first.id and request.title == "Sync of every source" and request.requested_by == "cron"
    assert second.return_value() == first.return_value()  # the same scope jobs: none were queued twice
    request = wait_until_finished(request.id)
    assert {run.source for run in db.session.scalars(select(SyncRun))} == {"deis", "aws", "cloudflare"}
    assert db.session.scalar(select(func.count()).select_from(SyncRequest)) == 1


def test_flask_sync_queue_hands_the_request_to_the_workers_and_waits(app, settings, sandbox, sync_queue,
                                                                    start_workers):
    start_workers(1)
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "sync", "queue", "--source", "aws", "--wait", "170"]
    done = subprocess.run(command, env=panel_env(settings, sandbox, redis_url()), capture_output=True, text=True,
                          timeout=WAIT_SECONDS)
    assert done.returncode == 0, done.stdout + done.stderr
    request = db.session.scalars(select(SyncRequest)).one()
    assert f"Sync of aws queued: /sync/requests/{request.id}" in done.stdout
    scopes = len(request.scope_jobs)
    assert scopes >= 1 and f"{scopes} scope{'' if scopes == 1 else 's'}, finished" in done.stdout
    assert request.requested_by == "cli" and request.status == "succeeded"

    wrong = subprocess.run([*command[:7], "--source", "aws", "--scope", "eu-prod"],
                           env=panel_env(settings, sandbox, redis_url()), capture_output=True, text=True,
                           timeout=WAIT_SECONDS)
    assert wrong.returncode == 2 and "Only a Deis sync takes a scope" in wrong.stderr
