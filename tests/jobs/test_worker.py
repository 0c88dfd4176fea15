"""A real RQ worker process on a real Redis runs a panel job that reads and writes the database."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

from redis import Redis
from rq import Queue
from sqlalchemy import select

from app.extensions import db
from app.queues import redis_url
from app.models import Alert, AuditEvent, Operation, utcnow
from jobs.stuck_operations import check_stuck_operations


def test_worker_runs_stuck_operation_check_against_the_database(app, settings):
    db.session.add_all([
        Operation(kind="database.create", target="shop", state="running", created_at=utcnow() - timedelta(hours=3)),
        Operation(kind="backup.capture", target="blog", state="running", created_at=utcnow() - timedelta(minutes=5)),
    ])
    db.session.commit()
    url = redis_url()
    queue = Queue("default", connection=Redis.from_url(url))
    queue.empty()
    job = queue.enqueue(check_stuck_operations)

    env = {**os.environ, "ADMIN_PANEL_INSTANCE_DIR": str(settings.instance_dir),
           "DATABASE_URL": settings.database_url, "REDIS_URL": url, "SECRET_KEY": settings.secret_key}
    worker = subprocess.run(
        [sys.executable, "-m", "rq.cli", "worker", "--burst", "--worker-class", "jobs.worker.PanelWorker",
         "-u", url, "default"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert worker.returncode == 0, worker.stderr
    job.refresh()
    assert job.is_finished, worker.stdout + worker.stderr + str(job.get_status()) + str(job.exc_info)
    assert job.return_value() == 1

    db.session.expire_all()
    alert = db.session.scalars(select(Alert)).one()
    assert alert.kind == "operation_stuck" and alert.target == "shop" and "running for 18" in alert.message
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "alert.raise")).one()
    assert event.request_id == f"job:{job.id}"
