"""SIGKILL a real `rq worker` in the middle of a sync and of a DNS switch apply: RQ finds the job abandoned, the
panel's watch (the stuck-operations job) fails the run or flags the change set with an alert, and a retry completes
without duplicates. (Backups and restores, whose worker is dbapi's, are in test_dbapi_worker_crashes.py.)"""
from __future__ import annotations

import pytest
from redis import Redis
from rq.job import Job
from sqlalchemy import func, select

from app.extensions import db
from app.models import Alert, App, ChangeSet, Cluster, SyncRun
from app.operations import change_sets
from app.operations.change_sets import ChangeSetRefused
from app.operations.cluster_switch import plan_switch
from app.queues import queue, redis_url
from jobs.stuck_operations import check_stuck_operations
from tests.faults.workers import PanelWorkers, rq_notices_the_dead_worker, sigkill, wait_for
from tests.operations.conftest import demo, demo_scenario  # noqa: F401  (the demo platform, synced)
from tests.sync.conftest import aws_credentials, clients, locks, sync  # noqa: F401  (the real synchronizer)

KEPT = ("name", "type", "content", "ttl", "proxied", "comment")


def worker_environ(settings, sandbox_env: dict[str, str]) -> dict[str, str]:
    return {"ADMIN_PANEL_INSTANCE_DIR": str(settings.instance_dir), "DATABASE_URL": settings.database_url,
            "SECRET_KEY": settings.secret_key, "SYNC_LOCK_SECONDS": "3", **sandbox_env}


@pytest.fixture
def panel_workers(app, settings, tmp_path):
    made: list[PanelWorkers] = []

    def build(sandbox_env: dict[str, str]) -> PanelWorkers:
        workers = PanelWorkers(worker_environ(settings, sandbox_env), redis_url(), tmp_path)
        made.append(workers)
        return workers

    for name in ("sync", "default"):
        queue(name).empty()
    yield build
    for workers in made:
        workers.stop_all()
    for name in ("sync", "default"):
        queue(name).empty()


def open_alerts(target: str) -> list[Alert]:
    db.session.expire_all()
    return db.session.scalars(select(Alert).where(Alert.target == target, Alert.resolved_at.is_(None))).all()


def test_a_worker_killed_mid_sync_fails_the_run_with_an_alert_and_the_retry_completes(sandbox, sync,  # noqa: F811
                                                                                      panel_workers, monkeypatch):
    runs, failures = sync()
    assert failures == []
    env = sandbox.env()
    aws_credentials(monkeypatch, env)
    workers = panel_workers(env)
    controller = sandbox.deis["eu-prod"].faults
    controller.configure(latency_ms=400)  # a slow controller: the run is reliably in the middle of its fetch
    jobs = queue("sync")
    # "Sync now" for one scope: the fan-out job queues the scope's job (and the final relations job).
    before = db.session.scalar(select(func.max(SyncRun.id))) or 0
    jobs.enqueue("jobs.sync.sync_source", "deis", "eu-prod", "crash-test")
    worker = workers.start(["sync"])

    def running_run():
        db.session.expire_all()
        run = db.session.scalar(select(SyncRun).where(SyncRun.id > before, SyncRun.source == "deis",
                                                      SyncRun.scope == "eu-prod", SyncRun.status == "running"))
        return run if run is not None and controller.state()["requests_since_configured"] >= 2 else None

    run = wait_for(running_run, "the sync to be fetching")
    job = Job.fetch(run.job_id, connection=Redis.from_url(redis_url()))  # the scope's job, in the middle of it
    sigkill(worker)

    assert job.get_status(refresh=True) == "started"  # nobody knows yet
    rq_notices_the_dead_worker(jobs)
    assert job.get_status(refresh=True) == "failed"
    check_stuck_operations()  # the panel's watch (cron, every 5 minutes)

    db.session.expire_all()
    run = db.session.get(SyncRun, run.id)
    assert run.status == "failed" and run.error.startswith("interrupted") and "nothing was deleted" in run.error
    [alert] = open_alerts("sync deis/eu-prod")
    assert "interrupted" in alert.message

    controller.clear()
    # The dead worker's lock frees itself (SYNC_LOCK_SECONDS), so the retry is not skipped.
    wait_for(lambda: not Redis.from_url(redis_url()).exists("sync-lock:deis:eu-prod"), "the lock to expire", 30)
    retry = jobs.enqueue("jobs.sync.sync_source", "deis", "eu-prod", "crash-test")
    workers.burst(["sync"])
    assert retry.get_status(refresh=True) == "finished", workers.logs()
    db.session.expire_all()
    latest = db.session.scalar(select(SyncRun).where(SyncRun.source == "deis", SyncRun.scope == "eu-prod")
                               .order_by(SyncRun.id.desc()).limit(1))
    assert latest.id != run.id and latest.status == "succeeded", workers.logs()
    names = db.session.scalars(select(App.name).join(Cluster).where(Cluster.name == "eu-prod")).all()
    assert sorted(names) == sorted(sandbox.deis["eu-prod"].app_ids())  # every app once: nothing doubled or lost
    check_stuck_operations()
    assert open_alerts("sync deis/eu-prod") == []  # a later run of the scope resolves it


def records(demo) -> list[dict]:  # noqa: F811
    zones = ("platform-ops.net", "northwind-shop.com", "contoso-pay.com", "tailspin-travel.com", "fabrikam.in")
    return [record for zone in zones for record in demo.records(zone)]


def shapes(found: list[dict]) -> list[tuple]:
    return sorted(tuple(str(record[key]) for key in KEPT) for record in found)


def test_a_worker_killed_mid_switch_apply_is_flagged_and_the_resume_applies_each_change_once(
        demo, sandbox_session, panel_workers, monkeypatch):  # noqa: F811
    before = records(demo)
    env = sandbox_session.env()
    aws_credentials(monkeypatch, env)
    workers = panel_workers(env)
    cf = demo.clients.cloudflare()
    change_set = plan_switch(db.session, cf, "eu-prod", "eu-staging", "alice")
    zones = {item.zone_cf_id for item in change_set.active_items}
    assert len(zones) >= 2  # one batch per zone: there is a middle to be killed in
    # Every batch takes a while, so the kill lands between two of them.
    demo.sandbox.cloudflare.faults.configure(latency_ms=1500, path_contains="/batch")
    jobs = queue("default")
    change_sets.request_apply(db.session, jobs, change_set, "alice")
    worker = workers.start(["default"])

    def half_applied():
        db.session.expire_all()
        current = db.session.get(ChangeSet, change_set.id)
        return 0 < (current.progress or 0) < 100

    wait_for(half_applied, "the first batch to be applied")
    sigkill(worker)
    db.session.expire_all()
    change_set = db.session.get(ChangeSet, change_set.id)
    assert change_set.state == "applying"
    applied_before_crash = sum(item.state == "applied" for item in change_set.items)
    assert 0 < applied_before_crash < len(change_set.active_items)
    with pytest.raises(ChangeSetRefused):  # RQ still counts the job as running: no second apply beside it
        change_sets.request_apply(db.session, jobs, change_set, "bob")

    rq_notices_the_dead_worker(jobs)
    check_stuck_operations()
    [alert] = open_alerts(f"change set #{change_set.id}")
    assert "stopped mid-apply" in alert.message and "Resume" in alert.message
    db.session.expire_all()
    assert db.session.get(ChangeSet, change_set.id).progress_message.startswith("interrupted")

    demo.sandbox.cloudflare.faults.clear()
    change_sets.request_apply(db.session, jobs, db.session.get(ChangeSet, change_set.id), "bob")  # resume
    workers.burst(["default"])
    db.session.expire_all()
    change_set = db.session.get(ChangeSet, change_set.id)
    assert change_set.state == "applied", (change_set.error, workers.logs())
    check_stuck_operations()
    assert open_alerts(f"change set #{change_set.id}") == []

    after = records(demo)
    keys = [(record["name"], record["type"], record["content"]) for record in after]
    assert len(keys) == len(set(keys)), "a change was applied twice"
    creates = sum(item.action == "create" for item in change_set.active_items)
    deletes = sum(item.action == "delete" for item in change_set.active_items)
    assert len(after) == len(before) + creates - deletes
    # And the way back restores every record exactly.
    undo = change_sets.plan_rollback(db.session, change_set, "bob")
    change_sets.request_apply(db.session, None, undo, "bob")
    assert change_sets.apply(db.session, cf, undo.id).state == "applied"
    assert shapes(records(demo)) == shapes(before)
    assert db.session.scalar(select(func.count()).select_from(ChangeSet).where(ChangeSet.state == "applying")) == 0
