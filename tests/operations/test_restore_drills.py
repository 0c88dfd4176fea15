"""Restore drills: weekly per database, the newest good backup; on demand; a failed drill raises one alert.

The verify action itself (`app.operations.database_backups.verify`, through the Databases API) lives in the module
another branch builds; here a stand-in records the `backup.verify` operation that action records, nothing more.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.models import Alert, Backup, Operation, utcnow
from app.operations.restore_drills import (
    DrillRefused, choose_backup, drill_failed, drill_now, drill_passed, run_drills,
)
from tests import factories as make

START = datetime(2026, 4, 1, tzinfo=timezone.utc)


class Verifier:
    """Stands in for the Databases API verify action: records its operation, as the real one does."""

    def __init__(self, session, clock):
        self.session, self.clock, self.asked = session, clock, []

    def __call__(self, backup: Backup) -> Operation:
        self.asked.append((backup.id, self.clock()))
        operation = Operation(kind="backup.verify", target_type="backup", target_id=str(backup.id),
                              target=backup.database.name, state="running", created_at=self.clock())
        self.session.add(operation)
        return operation


def _database(session, name: str):
    return make.database(session, make.app(session, name=name), name=name)


def test_over_three_weeks_each_database_is_drilled_weekly_with_its_newest_good_backup(db_session):
    shop, blog = _database(db_session, "shop"), _database(db_session, "blog")
    db_session.commit()
    now = START
    verifier = Verifier(db_session, lambda: now)
    newest: dict[int, int] = {}
    for hour in range(21 * 24):
        now = START + timedelta(hours=hour)
        if now.hour == 3:  # the nightly backups; blog's fails on the drill days after the first (Wednesdays)
            for database in (shop, blog):
                failed = database is blog and now.weekday() == 2 and now > START + timedelta(days=1)
                backup = make.backup(db_session, database, started_at=now, kind="scheduled",
                                     state="failed" if failed else "succeeded")
                if not failed:
                    newest[database.id] = backup.id
            db_session.commit()
        before = len(verifier.asked)
        run_drills(db_session, now, verifier)
        for backup_id, _ in verifier.asked[before:]:
            backup = db_session.get(Backup, backup_id)
            assert backup.state == "succeeded" and backup.id == newest[backup.database_id]

    for database in (shop, blog):
        times = [at for backup_id, at in verifier.asked if db_session.get(Backup, backup_id).database_id == database.id]
        assert len(times) == 3, times
        assert all(later - earlier == timedelta(days=7) for earlier, later in zip(times, times[1:]))
    blog_drilled = [db_session.get(Backup, backup_id) for backup_id, _ in verifier.asked
                    if db_session.get(Backup, backup_id).database_id == blog.id]
    assert [backup.started_at.weekday() for backup in blog_drilled] == [2, 1, 1]  # Tuesday's, the last good one


def test_the_newest_backup_failed_so_the_drill_takes_the_last_good_one(db_session):
    shop = _database(db_session, "shop")
    good = make.backup(db_session, shop, started_at=START - timedelta(days=2))
    make.backup(db_session, shop, started_at=START - timedelta(days=1), state="failed")
    db_session.commit()
    verifier = Verifier(db_session, lambda: START)

    assert run_drills(db_session, START, verifier) == [good]
    assert run_drills(db_session, START + timedelta(days=6), verifier) == []


def test_a_verify_that_cannot_start_is_retried_on_the_next_run(db_session):
    shop = _database(db_session, "shop")
    make.backup(db_session, shop, started_at=START - timedelta(days=1))
    db_session.commit()

    def unreachable(backup):
        raise ConnectionError("dbapi unreachable")

    assert run_drills(db_session, START, unreachable) == []
    verifier = Verifier(db_session, lambda: START)
    assert len(run_drills(db_session, START + timedelta(hours=1), verifier)) == 1


def test_an_on_demand_drill_runs_whenever_asked_and_refuses_without_a_good_backup(db_session):
    shop, empty = _database(db_session, "shop"), _database(db_session, "empty")
    make.backup(db_session, empty, started_at=START, state="failed")
    newest = make.backup(db_session, shop, started_at=START)
    db_session.commit()
    verifier = Verifier(db_session, lambda: START)
    run_drills(db_session, START, verifier)

    assert drill_now(db_session, shop, verifier) == newest  # drilled an hour ago: asked again, so drilled again
    with pytest.raises(DrillRefused, match="database empty has no good backup to drill"):
        drill_now(db_session, empty, verifier)
    assert [backup_id for backup_id, _ in verifier.asked] == [newest.id, newest.id]


def test_a_failed_drill_raises_one_alert_with_the_reason_masked_and_a_passed_one_resolves_it(db_session):
    shop = _database(db_session, "shop")
    damaged = make.backup(db_session, shop, started_at=START)
    db_session.commit()

    reason = "pg_restore: could not connect to postgresql://drill:hunter2@10.0.0.5/scratch: archive truncated"
    drill_failed(db_session, damaged, reason, now=START)
    db_session.commit()
    drill_failed(db_session, damaged, reason, now=START + timedelta(minutes=5))  # a replayed result
    db_session.commit()

    alerts = db_session.scalars(select(Alert)).all()
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.kind == "restore_drill_failed" and alert.severity == "critical" and alert.resolved_at is None
    assert f"Restore drill of backup #{damaged.id} of database shop (shop) failed" in alert.message
    assert "archive truncated" in alert.message and "hunter2" not in alert.message
    assert alert.pending_notice == "raised"

    drill_passed(db_session, make.backup(db_session, shop, started_at=START + timedelta(days=1)),
                 now=START + timedelta(days=1))
    db_session.commit()
    assert db_session.get(Alert, alert.id).resolved_at is not None


def test_choose_backup_is_weekly_per_database_whatever_backup_was_drilled():
    class Row:
        def __init__(self, id, started_at, state="succeeded"):
            self.id, self.started_at, self.state = id, started_at, state

    older, newer = Row(1, START), Row(2, START + timedelta(days=1))
    assert choose_backup([older, newer], {1: START + timedelta(days=1)}, START + timedelta(days=3)) is None
    assert choose_backup([older, newer], {1: START + timedelta(days=1)}, START + timedelta(days=8)) is newer
    assert choose_backup([Row(3, START, "failed")], {}, START) is None


def test_the_cron_job_asks_the_verify_action_for_the_due_drills(app, db_session, monkeypatch):
    """The job's wiring. The verify action (`app.operations.database_backups.verify`) and the Databases API client
    are stood in for (the real ones need the Databases API running): the stand-in records the calls the job makes."""

    from app.clients import PlatformClients
    from jobs.restore_drills import run_restore_drills

    shop = _database(db_session, "shop")
    newest = make.backup(db_session, shop, started_at=START)
    db_session.commit()
    calls = []

    def verify(session, dbapi, backup, *, actor):
        calls.append((dbapi, backup.id, actor))
        return Verifier(session, utcnow)(backup)

    from app.operations import database_backups

    monkeypatch.setattr(database_backups, "verify", verify)
    monkeypatch.setattr(PlatformClients, "databases_api", lambda self: "dbapi-client", raising=False)

    assert run_restore_drills() == 1
    assert run_restore_drills() == 0  # drilled this week already
    assert calls == [("dbapi-client", newest.id, "restore-drills")]


def test_flask_drill_starts_one_now_and_refuses_without_a_good_backup(app, db_session, monkeypatch):
    """`flask backup-policy drill APP`, wired to a stand-in for the verify action (which would need the Databases API)."""

    from app.clients import PlatformClients

    shop, empty = _database(db_session, "shop"), _database(db_session, "empty")
    newest = make.backup(db_session, shop, started_at=START)
    db_session.commit()
    calls = []

    def verify(session, dbapi, backup, *, actor):
        calls.append((backup.id, actor))
        return Verifier(session, utcnow)(backup)

    from app.operations import database_backups

    monkeypatch.setattr(database_backups, "verify", verify)
    monkeypatch.setattr(PlatformClients, "databases_api", lambda self: "dbapi-client", raising=False)
    runner = app.test_cli_runner()

    started = runner.invoke(args=["backup-policy", "drill", "shop"])
    refused = runner.invoke(args=["backup-policy", "drill", "empty"])

    assert started.exit_code == 0 and f"restore drill of backup #{newest.id} of shop started" in started.output
    assert refused.exit_code == 1 and "database empty has no good backup to drill" in refused.output
    assert calls == [(newest.id, "cli")]
