"""Watchdogs: operations left in progress past their kind's threshold end stale with one alert; RQ jobs waiting or
running too long alert once (real Redis, real RQ queues and registries); failed jobs are counted on the home page."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from rq.exceptions import NoSuchJobError
from rq import Queue, SimpleWorker
from rq.executions import Execution
from sqlalchemy import select

from app.config import ConfigError, Settings
from app.extensions import db
from app.models import Alert, AuditEvent, Operation, utcnow
from app.operations import job_watchdog, stuck_operations
from app.queues import redis_connection

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


def _operation(session, kind: str, minutes_ago: int, state: str = "running", target: str = "shop") -> Operation:
    operation = Operation(kind=kind, target=target, state=state, created_at=NOW - timedelta(minutes=minutes_ago + 1),
                          started_at=NOW - timedelta(minutes=minutes_ago))
    session.add(operation)
    session.commit()
    return operation


def test_a_backup_whose_worker_died_ends_stale_with_exactly_one_alert_however_often_the_watchdog_runs(db_session):
    # The dbapi worker was killed mid-backup: no callback ever comes, the panel's operation stays "running".
    orphan = _operation(db_session, "backup.capture", minutes_ago=181)
    slow_but_alive = _operation(db_session, "backup.capture", minutes_ago=120, target="blog")

    first = stuck_operations.check(db_session, NOW)
    second = stuck_operations.check(db_session, NOW + timedelta(minutes=5))

    assert [operation.id for operation in first] == [orphan.id] == [operation.id for operation in second]
    db_session.expire_all()
    assert db_session.get(Operation, orphan.id).state == "stale"
    assert "no result after 181 minutes" in db_session.get(Operation, orphan.id).error
    assert db_session.get(Operation, slow_but_alive.id).state == "running"  # backups get 180 minutes
    alerts = db_session.scalars(select(Alert)).all()
    assert len(alerts) == 1
    assert alerts[0].kind == "operation_stuck" and alerts[0].resolved_at is None
    assert alerts[0].message == "backup.capture on shop has been running for 181 minutes (more than 180): marked stale"
    assert len(db_session.scalars(select(AuditEvent).where(AuditEvent.action == "operation.stale")).all()) == 1


@pytest.mark.parametrize(("kind", "allowed"), [("database.backup", 180), ("database.restore", 240)])
def test_the_panels_own_backup_and_restore_operations_get_their_longer_thresholds(db_session, kind, allowed):
    # The kinds database_backups.capture and .restore create (a mismatch once let them go stale after 60 minutes).
    slow_but_alive = _operation(db_session, kind, minutes_ago=allowed - 30)
    orphan = _operation(db_session, kind, minutes_ago=allowed + 1, target="blog")

    assert [operation.id for operation in stuck_operations.check(db_session, NOW)] == [orphan.id]
    db_session.expire_all()
    assert db_session.get(Operation, slow_but_alive.id).state == "running"


def test_a_late_result_after_all_resolves_the_alert(db_session):
    orphan = _operation(db_session, "database.create", minutes_ago=61)
    stuck_operations.check(db_session, NOW)
    orphan.state, orphan.finished_at = "succeeded", NOW + timedelta(minutes=1)  # the callback came in the end
    db_session.commit()

    assert stuck_operations.check(db_session, NOW + timedelta(minutes=5)) == []
    assert db_session.scalars(select(Alert)).one().resolved_at is not None


def test_thresholds_per_kind_come_from_the_setting(db_session):
    create = _operation(db_session, "database.create", minutes_ago=90)
    restore = _operation(db_session, "backup.restore", minutes_ago=50, target="blog")

    stale = stuck_operations.check(db_session, NOW, {"database.create": 120, "backup.restore": 45})

    assert [operation.id for operation in stale] == [restore.id]
    assert db_session.get(Operation, create.id).state == "running"


@pytest.mark.parametrize(("raw", "words"), [
    ("{not json", "OPERATION_STALE_MINUTES is not valid JSON"),
    ('[60]', "must be a JSON object"),
    ('{"backup.capture": 0}', "from 1 to 10080"),
    ('{"backup.capture": "3h"}', "from 1 to 10080"),
])
def test_a_bad_stale_minutes_setting_is_refused_clearly(tmp_path, raw, words):
    with pytest.raises(ConfigError, match=words):
        Settings.from_env({"ADMIN_PANEL_INSTANCE_DIR": str(tmp_path), "OPERATION_STALE_MINUTES": raw})
    settings = Settings.from_env({"ADMIN_PANEL_INSTANCE_DIR": str(tmp_path),
                                  "OPERATION_STALE_MINUTES": '{"backup.capture": 240}'})
    assert settings.operation_stale_minutes == {"backup.capture": 240}


@pytest.fixture
def fresh_queue(app):
    """A real RQ queue on the tests' Redis, of its own name so no other test's jobs are in it."""
    queue = Queue(f"watchdog-{uuid.uuid4().hex[:8]}", connection=redis_connection())
    yield queue
    queue.empty()


def _started_by_a_worker_that_then_died(queue: Queue, job) -> None:
    """What a worker writes when it starts a job (RQ's own bookkeeping); a killed worker leaves it so."""
    queue.remove(job)
    with queue.connection.pipeline() as pipeline:
        job.prepare_for_execution("worker-that-died", pipeline=pipeline)
        Execution.create(job, ttl=24 * 3600, pipeline=pipeline)
        pipeline.execute()


def test_a_job_no_worker_takes_alerts_once_and_resolves_when_it_has_moved_on(db_session, fresh_queue, client,
                                                                            login_as):
    job = fresh_queue.enqueue("jobs.stuck_operations.check_stuck_operations")
    later = utcnow() + timedelta(minutes=20)

    first = job_watchdog.check(db_session, [fresh_queue], later, timedelta(minutes=15), timedelta(minutes=60))
    job_watchdog.check(db_session, [fresh_queue], later + timedelta(minutes=5), timedelta(minutes=15),
                       timedelta(minutes=60))

    assert [(problem.kind, problem.job_id) for problem in first] == [("job_queued_too_long", job.id)]
    alert = db_session.scalars(select(Alert)).one()
    assert alert.kind == "job_queued_too_long" and alert.resolved_at is None
    assert f"has waited 25 minutes in queue {fresh_queue.name}" in alert.message  # kept up to date
    assert "jobs.stuck_operations.check_stuck_operations" in alert.message
    login_as("viewer")
    page = client.get("/alerts/?kind=job_queued_too_long").get_data(as_text=True)
    assert f"in queue {fresh_queue.name}" in page

    fresh_queue.empty()
    assert job_watchdog.check(db_session, [fresh_queue], later + timedelta(minutes=10), timedelta(minutes=15),
                              timedelta(minutes=60)) == []
    assert db_session.scalars(select(Alert)).one().resolved_at is not None


def test_a_job_running_past_the_threshold_and_its_own_timeout_alerts_once(db_session, fresh_queue):
    quick = fresh_queue.enqueue("jobs.stuck_operations.check_stuck_operations", job_timeout=120)
    patient = fresh_queue.enqueue("jobs.sync.sync_all", job_timeout=3 * 3600)
    for job in (quick, patient):
        _started_by_a_worker_that_then_died(fresh_queue, job)
    later = utcnow() + timedelta(minutes=90)

    problems = job_watchdog.check(db_session, [fresh_queue], later, timedelta(minutes=15), timedelta(minutes=60))
    job_watchdog.check(db_session, [fresh_queue], later + timedelta(minutes=5), timedelta(minutes=15),
                       timedelta(minutes=60))

    assert [(problem.kind, problem.job_id) for problem in problems] == [("job_running_too_long", quick.id)]
    alert = db_session.scalars(select(Alert)).one()
    assert "has been running for 95 minutes (expected at most 60; did its worker die?)" in alert.message


def _clear_failed(queue: Queue) -> None:
    """Empty the queue's failed-job registry; on a shared Redis it may name jobs whose data already expired."""
    for job_id in queue.failed_job_registry.get_job_ids():
        try:
            queue.failed_job_registry.remove(job_id, delete_job=True)
        except NoSuchJobError:
            queue.failed_job_registry.remove(job_id)


def test_the_home_page_counts_failed_jobs_per_queue_and_shows_stale_operations(client, db_session, login_as):
    default = Queue("default", connection=redis_connection())
    default.empty()
    _clear_failed(default)
    default.enqueue("json.loads", "{not json")  # fails for real in a real worker
    SimpleWorker([default], connection=default.connection).work(burst=True)
    _operation(db.session, "backup.capture", minutes_ago=200)
    stuck_operations.check(db.session, NOW)
    login_as("viewer")

    page = client.get("/")
    html = page.get_data(as_text=True)

    assert page.status_code == 200
    assert "Failed background jobs" in html
    assert "1 failed</span> on queue <code>default</code>" in html
    assert "latest: json.loads" in html
    assert "stale</span>" in html and "backup.capture shop" in html
    _clear_failed(default)
