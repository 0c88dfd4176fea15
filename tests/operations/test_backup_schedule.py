"""Nightly backups: a dispatcher run every 15 minutes on a frozen clock asks once per database per local date, at
the region's local backup time, across DST changes and :45 offsets, after downtime and with two dispatchers."""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import ScheduledBackupClaim
from app.operations.backup_schedule import backup_instant, dispatch, due_date
from tests import factories as make

UTC = timezone.utc
TICK = timedelta(minutes=15)


def _database(session, region_name: str, zone: str, hour: int = 3, minute: int = 0, created=datetime(2026, 1, 1,
                                                                                                     tzinfo=UTC)):
    region = make.region(session, name=region_name, timezone=zone, backup_hour=hour, backup_minute=minute)
    cluster = make.cluster(session, name=f"{region_name}-1", region_row=region)
    return make.database(session, make.app(session, name=f"shop-{region_name}", cluster_row=cluster),
                         name=f"shop_{region_name.replace('-', '_')}", created_at=created)


class Recorder:
    """Stands in for the backup action (it lives in the Databases API module): records who was asked and when."""

    def __init__(self, clock):
        self.clock = clock
        self.calls: list[tuple[str, datetime]] = []

    def __call__(self, database) -> str:
        self.calls.append((database.name, self.clock()))
        return f"op-{len(self.calls)}"


def _run_week(session, start: datetime, days: int = 7):
    """Calls of a dispatcher every 15 minutes for `days` from `start`, after a day of running already (its first
    run catches up the night before, which is not what this measures)."""
    now = start - timedelta(days=1)
    recorder = Recorder(lambda: now)
    while now < start + timedelta(days=days):
        if now == start:
            recorder.calls.clear()
        dispatch(session, now, recorder)
        now += TICK
    return recorder.calls


def _by_database(calls):
    grouped = defaultdict(list)
    for name, at in calls:
        grouped[name].append(at)
    return grouped


def test_a_week_across_the_autumn_change_takes_one_backup_per_local_day_at_the_local_hour(db_session):
    tokyo = _database(db_session, "tokyo", "Asia/Tokyo")  # UTC+9, no DST
    new_york = _database(db_session, "new-york", "America/New_York")  # UTC-5, falls back on 1 November 2026
    kathmandu = _database(db_session, "kathmandu", "Asia/Kathmandu")  # UTC+5:45
    # 01:30 happens twice in New York on 1 November: the first one counts, the second takes nothing.
    repeated = _database(db_session, "new-york-early", "America/New_York", hour=1, minute=30)
    db_session.commit()

    calls = _by_database(_run_week(db_session, datetime(2026, 10, 28, 0, 0, tzinfo=UTC)))

    for database, zone, local_time in ((tokyo, "Asia/Tokyo", (3, 0)), (new_york, "America/New_York", (3, 0)),
                                       (kathmandu, "Asia/Kathmandu", (3, 0)),
                                       (repeated, "America/New_York", (1, 30))):
        local = [at.astimezone(ZoneInfo(zone)) for at in calls[database.name]]
        dates = [moment.date() for moment in local]
        assert len(dates) == len(set(dates)), f"{database.name}: two backups on one local day: {local}"
        assert all((moment.hour, moment.minute) == local_time for moment in local), (database.name, local)
        assert len(local) == 7, (database.name, local)
    # The first of New York's two 01:30s on the night of the change: EDT, 05:30 UTC.
    assert datetime(2026, 11, 1, 5, 30, tzinfo=UTC) in calls[repeated.name]
    assert datetime(2026, 11, 1, 6, 30, tzinfo=UTC) not in calls[repeated.name]
    # Kathmandu's 03:00 is 21:15 UTC the day before.
    assert datetime(2026, 10, 29, 21, 15, tzinfo=UTC) in calls[kathmandu.name]
    claims = db_session.scalars(select(ScheduledBackupClaim).where(ScheduledBackupClaim.database_id == tokyo.id)
                                .order_by(ScheduledBackupClaim.local_date)).all()
    assert [claim.local_date for claim in claims][-7:] == [date(2026, 10, 29) + timedelta(days=n) for n in range(7)]
    assert [claim.operation_uuid for claim in claims][:1] != [None]


def test_a_backup_time_inside_the_skipped_spring_hour_still_gives_one_backup_that_day(db_session):
    # 02:30 does not exist in New York on 8 March 2026: that night's backup runs right after the gap, 03:30 EDT.
    gap = _database(db_session, "new-york-gap", "America/New_York", hour=2, minute=30)
    db_session.commit()

    calls = _run_week(db_session, datetime(2026, 3, 5, 0, 0, tzinfo=UTC))

    local = [at.astimezone(ZoneInfo("America/New_York")) for _, at in calls]
    assert [moment.date() for moment in local] == [date(2026, 3, 5) + timedelta(days=n) for n in range(7)]
    on_the_night = [moment for moment in local if moment.date() == date(2026, 3, 8)]
    assert [(moment.hour, moment.minute) for moment in on_the_night] == [(3, 30)]
    assert all((moment.hour, moment.minute) == (2, 30) for moment in local if moment.date() != date(2026, 3, 8))
    assert gap.name == calls[0][0]


def test_downtime_of_several_nights_takes_one_backup_on_the_next_run_not_one_per_missed_night(db_session):
    _database(db_session, "tokyo", "Asia/Tokyo")
    db_session.commit()
    tokyo = ZoneInfo("Asia/Tokyo")
    recorder = Recorder(lambda: None)

    dispatch(db_session, datetime(2026, 5, 1, 3, 0, tzinfo=tokyo), recorder)  # the night before the outage
    back = datetime(2026, 5, 4, 11, 7, tzinfo=tokyo)  # the dispatcher was down for three nights
    for minutes in range(0, 60, 15):
        dispatch(db_session, back + timedelta(minutes=minutes), recorder)

    dates = db_session.scalars(select(ScheduledBackupClaim.local_date).order_by(ScheduledBackupClaim.local_date)).all()
    assert dates == [date(2026, 5, 1), date(2026, 5, 4)]
    assert len(recorder.calls) == 2


def test_a_night_missed_until_just_before_the_next_backup_time_is_caught_up_once(db_session):
    _database(db_session, "tokyo", "Asia/Tokyo")
    db_session.commit()
    tokyo = ZoneInfo("Asia/Tokyo")
    recorder = Recorder(lambda: None)
    dispatch(db_session, datetime(2026, 5, 1, 3, 0, tzinfo=tokyo), recorder)

    # Down from 02:00 on 2 May to 01:00 on 3 May: the 2 May backup is taken at once, 3 May's at 03:00 as usual.
    now = datetime(2026, 5, 3, 1, 0, tzinfo=tokyo)
    while now <= datetime(2026, 5, 3, 4, 0, tzinfo=tokyo):
        dispatch(db_session, now, recorder)
        now += TICK

    dates = db_session.scalars(select(ScheduledBackupClaim.local_date).order_by(ScheduledBackupClaim.local_date)).all()
    assert dates == [date(2026, 5, 1), date(2026, 5, 2), date(2026, 5, 3)]
    assert len(recorder.calls) == 3


def test_a_database_created_after_tonights_backup_time_waits_for_the_next_night(db_session):
    tokyo = ZoneInfo("Asia/Tokyo")
    _database(db_session, "tokyo", "Asia/Tokyo", created=datetime(2026, 5, 1, 10, 0, tzinfo=tokyo))
    db_session.commit()
    recorder = Recorder(lambda: None)

    dispatch(db_session, datetime(2026, 5, 1, 10, 15, tzinfo=tokyo), recorder)
    dispatch(db_session, datetime(2026, 5, 2, 2, 45, tzinfo=tokyo), recorder)
    assert recorder.calls == []
    dispatch(db_session, datetime(2026, 5, 2, 3, 0, tzinfo=tokyo), recorder)
    assert len(recorder.calls) == 1


def test_two_dispatchers_at_once_ask_for_each_backup_once(db_session):
    first = _database(db_session, "tokyo", "Asia/Tokyo")
    second = _database(db_session, "osaka", "Asia/Tokyo")
    db_session.commit()
    now = datetime(2026, 5, 1, 3, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    asked: list[str] = []
    other = Session(db.engine)

    def capture_while_another_dispatcher_runs(database) -> str:
        asked.append(database.name)
        if len(asked) == 1:  # the other dispatcher runs to its end while this one is between two databases
            dispatch(other, now, lambda racing: asked.append(racing.name) or "op-other")
        return "op"

    try:
        dispatch(db_session, now, capture_while_another_dispatcher_runs)
    finally:
        other.close()

    assert sorted(asked) == sorted([first.name, second.name])
    assert len(db_session.scalars(select(ScheduledBackupClaim)).all()) == 2


def test_a_capture_that_fails_gives_its_night_back_and_the_next_run_retries_it(db_session):
    broken = _database(db_session, "tokyo", "Asia/Tokyo")
    healthy = _database(db_session, "osaka", "Asia/Tokyo")
    db_session.commit()
    now = datetime(2026, 5, 1, 3, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    asked: list[str] = []

    def capture(database) -> str:
        if database.id == broken.id and not asked.count(broken.name):
            asked.append(database.name)
            raise ConnectionError("dbapi unreachable")
        asked.append(database.name)
        return "op"

    dispatched = dispatch(db_session, now, capture)
    assert [item.database for item in dispatched] == [healthy.name]
    assert [claim.database_id for claim in db_session.scalars(select(ScheduledBackupClaim))] == [healthy.id]

    dispatched = dispatch(db_session, now + TICK, capture)
    assert [item.database for item in dispatched] == [broken.name]


def test_the_decision_reads_the_local_clock():
    kathmandu = ZoneInfo("Asia/Kathmandu")
    assert backup_instant(date(2026, 1, 10), kathmandu, 3) == datetime(2026, 1, 9, 21, 15, tzinfo=UTC)
    assert due_date(datetime(2026, 1, 9, 21, 14, tzinfo=UTC), kathmandu, 3, 0, last_taken=date(2026, 1, 9)) is None
    assert due_date(datetime(2026, 1, 9, 21, 15, tzinfo=UTC), kathmandu, 3, 0,
                    last_taken=date(2026, 1, 9)) == date(2026, 1, 10)


def test_the_cron_job_asks_the_backup_action_for_a_scheduled_backup(app, db_session, monkeypatch):
    """The job's wiring. The backup action (`app.operations.database_backups.capture`) and the Databases API client
    are stood in for (the real ones need the Databases API running): the stand-in records the calls the job makes."""

    from app.clients import PlatformClients
    from app.models import Operation
    from jobs.backup_dispatch import dispatch_backups

    database = _database(db_session, "tokyo", "Asia/Tokyo", created=datetime(2020, 1, 1, tzinfo=UTC))
    db_session.commit()
    calls = []

    def capture(session, dbapi, database_row, *, kind="manual", actor):
        calls.append((dbapi, database_row.id, kind, actor))
        operation = Operation(kind="backup.capture", target=database_row.name, state="pending")
        session.add(operation)
        session.flush()
        return operation

    from app.operations import database_backups

    monkeypatch.setattr(database_backups, "capture", capture)
    monkeypatch.setattr(PlatformClients, "databases_api", lambda self: "dbapi-client", raising=False)

    assert dispatch_backups() == 1  # the database existed last night: its backup is due now, once
    assert dispatch_backups() == 0
    assert calls == [("dbapi-client", database.id, "scheduled", "schedule")]
    claim = db_session.scalars(select(ScheduledBackupClaim)).one()
    assert claim.operation_uuid == db_session.scalars(select(Operation)).one().uuid


def test_a_regions_backup_time_comes_from_deis_clusters_and_a_bad_minute_is_refused(db_session):
    import json

    import pytest

    from app.cluster_settings import ClusterSettingsError, parse_clusters
    from app.models import Region
    from app.sync.platform import ensure_clusters

    cluster = {"name": "np-prod", "url": "https://deis.np.test", "username": "admin-panel", "token": "t",
               "region": "nepal", "aws_region": "ap-south-1", "timezone": "Asia/Kathmandu", "backup_hour": 2,
               "backup_minute": 45}
    ensure_clusters(db_session, [settings.as_config() for settings in parse_clusters(json.dumps([cluster]))])
    db_session.commit()
    region = db_session.scalars(select(Region)).one()
    assert (region.backup_hour, region.backup_minute) == (2, 45)
    assert backup_instant(date(2026, 1, 10), region.zone, region.backup_hour, region.backup_minute) == datetime(
        2026, 1, 9, 21, 0, tzinfo=UTC)

    with pytest.raises(ClusterSettingsError, match="backup_minute"):
        parse_clusters(json.dumps([{**cluster, "backup_minute": 60}]))
