"""Rotation: after each nightly backup the policy keeps exactly its daily, weekly and monthly set; manual backups
stay up to a cap; the newest good backup and a backup cloned to another app are never deleted."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import select

from app.models import AuditEvent, Backup, BackupPolicy
from app.operations.backup_rotation import Policy, PolicyRefused, plan, rotate, set_policy
from tests import factories as make

TOKYO = ZoneInfo("Asia/Tokyo")


def _tokyo_database(session):
    region = make.region(session, name="tokyo", timezone="Asia/Tokyo")
    cluster = make.cluster(session, name="tokyo-1", region_row=region)
    return make.database(session, make.app(session, name="shop", cluster_row=cluster), name="shop")


def _deleted_through_dbapi(deleted: list):
    """Stands in for the Databases API deletion (another module's action): the backup leaves rotation's view."""
    def delete(backup: Backup) -> None:
        deleted.append(backup.id)
        backup.state = "deleting"
    return delete


def _nightly(session, database, day: date, state: str = "succeeded") -> Backup:
    return make.backup(session, database, started_at=datetime.combine(day, time(3, 0), tzinfo=TOKYO)
                       .astimezone(timezone.utc), kind="scheduled", state=state)


def _expected_dates(today: date, daily: int = 7, weekly: int = 4, monthly: int = 6) -> set[date]:
    """Computed from the calendar: the last `daily` days, the last day (so far) of the last weeks and months."""
    days = {today - timedelta(days=n) for n in range(daily)}
    week_ends = {today} | {today - timedelta(days=today.weekday() + 1 + 7 * n) for n in range(weekly - 1)}
    month_ends, first = {today}, today.replace(day=1)
    for _ in range(monthly - 1):
        first = first - timedelta(days=1)
        month_ends.add(first)
        first = first.replace(day=1)
    return days | week_ends | month_ends


@pytest.mark.parametrize("numbers", [{}, {"keep_daily": 3, "keep_weekly": 2, "keep_monthly": 2}],
                         ids=["default-policy", "a-cluster-policy"])
def test_rotation_over_120_nights_keeps_exactly_the_policys_set(db_session, numbers):
    database = _tokyo_database(db_session)
    if numbers:
        set_policy(db_session, database.cluster, actor="alice", **numbers)
    db_session.commit()
    deleted: list[int] = []
    start = date(2026, 1, 1)
    for n in range(120):
        day = start + timedelta(days=n)
        _nightly(db_session, database, day)
        db_session.commit()
        rotate(db_session, database, delete=_deleted_through_dbapi(deleted),
               now=datetime.combine(day, time(3, 5), tzinfo=TOKYO))
        db_session.commit()

    kept = db_session.scalars(select(Backup).where(Backup.state == "succeeded")).all()
    kept_dates = {backup.started_at.astimezone(TOKYO).date() for backup in kept}
    last_day = start + timedelta(days=119)
    simulated = {start + timedelta(days=n) for n in range(120)}
    expected = _expected_dates(last_day, numbers.get("keep_daily", 7), numbers.get("keep_weekly", 4),
                               numbers.get("keep_monthly", 6)) & simulated
    assert kept_dates == expected
    assert len(kept) == len(kept_dates)  # one per date, nothing kept twice
    assert len(deleted) == 120 - len(kept)
    # the monthly ones are the last night of each month
    assert date(2026, 3, 31) in kept_dates and (date(2026, 1, 31) in kept_dates) == (not numbers)


def test_a_failed_latest_backup_never_lets_the_last_good_one_be_deleted(db_session):
    database = _tokyo_database(db_session)
    set_policy(db_session, database.cluster, actor="alice", keep_daily=1, keep_weekly=0, keep_monthly=0)
    good = _nightly(db_session, database, date(2026, 3, 1))
    for n in range(2, 20):  # every night since has failed
        _nightly(db_session, database, date(2026, 3, n), state="failed")
    db_session.commit()
    deleted: list[int] = []

    verdicts = rotate(db_session, database, delete=_deleted_through_dbapi(deleted),
                      now=datetime(2026, 3, 19, 3, 5, tzinfo=TOKYO))

    assert good.id not in deleted and good.state == "succeeded"
    assert next(v.keep for v in verdicts if v.backup.id == good.id)
    # failed ones older than the daily window go; the recent one stays for someone to look at
    assert len(deleted) == 17


def test_manual_backups_stay_until_the_cap_and_a_clone_source_is_never_deleted(db_session):
    database = _tokyo_database(db_session)
    other = make.database(db_session, make.app(db_session, name="blog", cluster_row=database.cluster), name="blog")
    set_policy(db_session, database.cluster, actor="alice", manual_cap=2)
    manual = [make.backup(db_session, database, started_at=datetime(2026, 3, n, 12, tzinfo=timezone.utc),
                          kind="manual") for n in (1, 2, 3, 4)]
    make.backup(db_session, other, kind="cloned", cloned_from_id=manual[0].id)
    db_session.commit()
    deleted: list[int] = []

    verdicts = {v.backup.id: v for v in rotate(db_session, database, delete=_deleted_through_dbapi(deleted),
                                               now=datetime(2026, 3, 5, tzinfo=timezone.utc))}

    assert deleted == [manual[1].id]
    assert verdicts[manual[1].id].reason == "over the cap of 2 manual and uploaded backups"
    assert verdicts[manual[0].id].reason == "another app's database holds a clone of it"
    assert verdicts[manual[3].id].keep and verdicts[manual[2].id].keep


def test_a_policy_out_of_range_is_refused_and_changes_nothing(db_session):
    database = _tokyo_database(db_session)
    db_session.commit()
    with pytest.raises(PolicyRefused, match="keep daily must be from 1 to 366, not 0"):
        set_policy(db_session, database.cluster, actor="alice", keep_daily=0)
    assert db_session.scalars(select(BackupPolicy)).all() == []

    set_policy(db_session, database.cluster, actor="alice", keep_weekly=8)
    row = db_session.scalars(select(BackupPolicy)).one()
    assert (row.keep_daily, row.keep_weekly, row.keep_monthly, row.manual_cap) == (7, 8, 6, 20)
    event = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "backup_policy.set")).one()
    assert event.actor == "alice" and event.after["keep_weekly"] == 8


class _Row:
    """A backup as rotation reads it (plan is pure: no database needed)."""

    def __init__(self, id: int, started_at: datetime, kind: str, state: str, cloned_from_id=None):
        self.id, self.started_at, self.kind, self.state = id, started_at, kind, state
        self.cloned_from_id = cloned_from_id


backup_rows = st.lists(
    st.tuples(st.integers(0, 400 * 24), st.sampled_from(["scheduled", "scheduled", "manual", "uploaded", "cloned"]),
              st.sampled_from(["succeeded", "succeeded", "failed", "pending"])),
    max_size=60,
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(rows=backup_rows, daily=st.integers(1, 10), weekly=st.integers(0, 5), monthly=st.integers(0, 8),
       cap=st.integers(1, 5))
def test_property_the_newest_good_backup_is_always_kept_and_the_plan_is_stable(rows, daily, weekly, monthly, cap):
    origin = datetime(2026, 1, 1, tzinfo=timezone.utc)
    backups = [_Row(i + 1, origin + timedelta(hours=hours), kind, state) for i, (hours, kind, state) in enumerate(rows)]
    now = origin + timedelta(days=401)
    policy = Policy(daily, weekly, monthly, cap)

    verdicts = plan(backups, policy, TOKYO, now)

    good = [b for b in backups if b.state == "succeeded"]
    kept = {v.backup.id for v in verdicts if v.keep}
    if good:
        newest = max(good, key=lambda b: (b.started_at, b.id))
        assert newest.id in kept
    assert all(v.keep for v in verdicts if v.backup.state == "pending" or v.backup.kind == "cloned")
    kept_scheduled = [v for v in verdicts if v.keep and v.backup.kind == "scheduled" and v.backup.state == "succeeded"]
    assert len(kept_scheduled) <= daily + weekly + monthly + 1
    # Applying the plan and planning again deletes nothing more: rotation after rotation is a no-op.
    survivors = [b for b in backups if b.id in kept]
    assert all(v.keep for v in plan(survivors, policy, TOKYO, now))


def test_the_dry_run_lists_what_the_policy_would_delete_and_deletes_nothing(app, db_session):
    database = _tokyo_database(db_session)
    for n in range(1, 11):  # ten nights in March, in the past
        _nightly(db_session, database, date(2026, 3, n))
    db_session.commit()
    runner = app.test_cli_runner()

    set_result = runner.invoke(args=["backup-policy", "set", "tokyo-1", "--daily", "3", "--weekly", "1",
                                     "--monthly", "0"])
    result = runner.invoke(args=["backup-policy", "dry-run", "shop"])

    assert set_result.exit_code == 0, set_result.output
    assert "keep 3 daily, 1 weekly, 0 monthly" in set_result.output
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith(("keep", "DELETE"))]
    assert [line.split()[0] for line in lines] == ["keep"] * 3 + ["DELETE"] * 7
    assert "2026-03-10 03:00 JST" in lines[0] and "daily 2026-03-10, weekly 2026-W11" in lines[0]
    assert "not among the 3 daily, 1 weekly and 0 monthly backups kept" in lines[-1]
    assert "would delete 7 of 10 backups (dry run: nothing deleted)" in result.output
    db_session.expire_all()
    assert db_session.scalars(select(Backup).where(Backup.state == "succeeded")).all().__len__() == 10


def test_the_policy_commands_refuse_bad_input_clearly(app, db_session):
    _tokyo_database(db_session)
    db_session.commit()
    runner = app.test_cli_runner()

    unknown_app = runner.invoke(args=["backup-policy", "dry-run", "nope"])
    bad_number = runner.invoke(args=["backup-policy", "set", "tokyo-1", "--manual-cap", "0"])
    unknown_cluster = runner.invoke(args=["backup-policy", "set", "mars-1", "--daily", "3"])
    shown = runner.invoke(args=["backup-policy", "show", "shop"])

    assert unknown_app.exit_code == 1 and "app 'nope' has no database in the panel" in unknown_app.output
    assert bad_number.exit_code == 1 and "manual cap must be from 1 to 1000, not 0" in bad_number.output
    assert unknown_cluster.exit_code == 1 and "no cluster named 'mars-1'" in unknown_cluster.output
    assert db_session.scalars(select(BackupPolicy)).all() == []
    assert "shop on tokyo-1: keep 7 daily, 4 weekly, 6 monthly" in shown.output


def test_the_newest_good_backup_survives_even_a_kind_the_policy_does_not_keep():
    origin = datetime(2026, 3, 1, tzinfo=timezone.utc)
    older = _Row(1, origin, "imported", "succeeded")
    newest = _Row(2, origin + timedelta(days=1), "imported", "succeeded")
    failed = _Row(3, origin + timedelta(days=2), "scheduled", "failed")

    verdicts = {v.backup.id: v for v in plan([older, newest, failed], Policy(), TOKYO, origin + timedelta(days=30))}

    assert not verdicts[older.id].keep
    assert verdicts[newest.id].keep and verdicts[newest.id].reason == "the newest good backup of this database"
    assert not verdicts[failed.id].keep
