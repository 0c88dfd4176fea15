"""Time zones and backup hours as DEIS_CLUSTERS may spell them, and the nightly schedule in every zone there is:
each local date has exactly one backup instant, at the chosen wall time unless that time does not exist."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, available_timezones

from hypothesis import given
from hypothesis import strategies as st

from app.cluster_settings import ClusterSettingsError, parse_clusters
from app.models import Region
from app.operations.backup_schedule import backup_instant, due_date
from tests.fuzz.examples import count

ZONES = sorted(available_timezones())
ZONE_TEXT = st.sampled_from(ZONES) | st.text(max_size=40) | st.from_regex(r"\A[A-Za-z_/.+-]{0,30}\Z")
HOURS = st.one_of(st.integers(-3, 27), st.text(max_size=3), st.floats(allow_nan=True), st.none(), st.booleans())


def _cluster(**fields) -> str:
    return json.dumps([{"name": "eu-prod", "url": "https://deis.example.com", "username": "panel", "token": "t",
                        "region": "europe", "aws_region": "eu-west-1", **fields}])


@given(ZONE_TEXT, HOURS, st.integers(-2, 61))
def test_a_cluster_zone_and_backup_time_are_taken_or_refused_in_words(zone, hour, minute):
    count("cluster_settings.timezone/backup_hour")
    try:
        [cluster] = parse_clusters(_cluster(timezone=zone, backup_hour=hour, backup_minute=minute))
    except ClusterSettingsError as error:
        assert "DEIS_CLUSTERS[0] (eu-prod): " in str(error) and '"t"' not in str(error)
        return
    ZoneInfo(cluster.timezone)
    assert 0 <= cluster.backup_hour <= 23 and 0 <= cluster.backup_minute <= 59


@given(ZONE_TEXT)
def test_a_region_row_with_any_zone_name_reads_as_a_zone(zone):
    count("models.Region.zone")
    assert isinstance(Region(name="r", aws_region="eu-west-1", timezone=zone).zone, ZoneInfo)


@given(st.sampled_from(ZONES), st.dates(date(1990, 1, 1), date(2100, 12, 31)), st.integers(0, 23),
       st.integers(0, 59))
def test_each_local_date_has_one_instant_at_its_wall_time_unless_the_time_does_not_exist(zone_name, day, hour,
                                                                                         minute):
    count("backup_schedule.backup_instant")
    zone = ZoneInfo(zone_name)
    instant = backup_instant(day, zone, hour, minute)
    assert instant.tzinfo == timezone.utc
    local = instant.astimezone(zone)
    wanted = datetime.combine(day, datetime.min.time()).replace(hour=hour, minute=minute)
    if local.replace(tzinfo=None) != wanted:
        # Inside a spring-forward gap (or a whole skipped day): the instant lands at most a day after it.
        assert timedelta(0) < local.replace(tzinfo=None) - wanted <= timedelta(days=1)
    assert backup_instant(day + timedelta(days=1), zone, hour, minute) > instant


@given(st.sampled_from(ZONES), st.datetimes(datetime(2000, 1, 1), datetime(2090, 1, 1), timezones=st.just(timezone.utc)),
       st.integers(0, 23), st.integers(0, 59), st.none() | st.integers(-3, 3))
def test_a_due_night_is_today_or_yesterday_already_past_and_never_one_already_taken(zone_name, now, hour, minute,
                                                                                   taken_offset):
    count("backup_schedule.due_date")
    zone = ZoneInfo(zone_name)
    today = now.astimezone(zone).date()
    last_taken = None if taken_offset is None else today + timedelta(days=taken_offset)
    due = due_date(now, zone, hour, minute, last_taken=last_taken)
    if due is None:
        return
    assert due in (today, today - timedelta(days=1))
    assert backup_instant(due, zone, hour, minute) <= now
    assert last_taken is None or due > last_taken
    # Taking it makes nothing more due until the next night.
    assert due_date(now, zone, hour, minute, last_taken=due) is None
