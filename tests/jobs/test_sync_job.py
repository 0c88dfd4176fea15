"""The sync job on a real worker, and `flask sync run` as an operator types it, both against the sandbox."""
from __future__ import annotations

import os
import subprocess
import sys

from redis import Redis
from rq import Queue
from sqlalchemy import select

from app.extensions import db
from app.queues import redis_url
from app.models import App, SyncRequest, SyncRun


def panel_env(settings, sandbox, url: str) -> dict[str, str]:
    return {**os.environ, **sandbox.env(), "ADMIN_PANEL_INSTANCE_DIR": str(settings.instance_dir),
            "DATABASE_URL": settings.database_url, "REDIS_URL": url, "SECRET_KEY": settings.secret_key}


def test_sync_job_fans_out_on_a_real_worker_and_records_the_request(app, settings, sandbox):
    url = redis_url()
    queue = Queue("sync", connection=Redis.from_url(url))
    queue.empty()
    job = queue.enqueue("jobs.sync.sync_source", "deis", "eu-prod", "alice")
    worker = subprocess.run(
        [sys.executable, "-m", "rq.cli", "worker", "--burst", "--worker-class", "jobs.worker.PanelWorker",
         "-u", url, "sync"],
        env=panel_env(settings, sandbox, url), capture_output=True, text=True, timeout=180,
    )
    assert worker.returncode == 0, worker.stderr
    job.refresh()
    assert job.is_finished, worker.stdout + worker.stderr
    db.session.expire_all()
    # The job fanned the request out to one scope job, which the same burst worker ran, then the relations job.
    request = db.session.scalars(select(SyncRequest)).one()
    run = db.session.scalars(select(SyncRun)).one()
    assert request.job_id == job.id and request.status == "succeeded" and request.finished_at is not None
    assert [each["job_id"] for each in request.scope_jobs] == [run.job_id]
    assert (run.source, run.scope, run.status, run.request_id, run.triggered_by) == (
        "deis", "eu-prod", "succeeded", request.id, "alice")
    assert run.progress == 100
    assert db.session.scalar(select(App).where(App.name == "shop")) is not None


def test_flask_sync_run_prints_counts_and_refuses_unknown_scopes(app, settings, sandbox):
    env = panel_env(settings, sandbox, redis_url())
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "sync", "run", "--source", "cloudflare"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "cloudflare/all: created 21, updated 0, deleted 0, unchanged 0;" in done.stdout

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert "cloudflare/all: created 0, updated 0, deleted 0, unchanged 21;" in again.stdout

    wrong = subprocess.run([*command[:-2], "--source", "deis", "--scope", "mars"], env=env, capture_output=True,
                           text=True, timeout=60)
    assert wrong.returncode == 2
    assert "deis has no scope 'mars'; known: eu-prod, us-prod, us-mon" in wrong.stderr
