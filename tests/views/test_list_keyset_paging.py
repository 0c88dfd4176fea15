"""Keyset (seek) pages of the instances list, a DNS zone's records and the audit log: Next from page 1 to the end
visits every row once in the displayed order (ties in the sort key, rows added between requests), a numbered page
is the OFFSET page, a tampered cursor gives the first page with 400, filters ride along the cursor links, and the
audit CSV holds exactly the filtered rows."""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta, timezone
from html import unescape

import pytest

from app import audit
from app.extensions import db
from app.models import AuditEvent, Instance, utcnow
from app.queries import audit_log, dns_listing, instance_listing
from app.queries.paging import encode_cursor
from tests import factories as make
from tests.views.test_audit_log import download

MOMENT = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


def walk(fetch, per_page: int) -> list:
    """Every page by Next cursors (`fetch(per_page=..., after=...)`); the pages in order."""
    pages = [fetch(per_page=per_page)]
    while pages[-1].has_next:
        pages.append(fetch(per_page=per_page, after=pages[-1].next_cursor))
        assert len(pages) < 100, "the cursors go round in circles"
    return pages


def ordered(rows: list, primary, tiebreaks, descending: bool) -> list:
    """`rows` in the list's order computed here, apart from the database: only the primary key flips."""
    rows = sorted(rows, key=lambda row: tiebreaks(row))
    return sorted(rows, key=primary, reverse=descending)


# -- instances ------------------------------------------------------------------------------------------------------
def label(instance) -> str:
    return instance.name or instance.aws_id


INSTANCE_ORDER = {
    "name": (label, lambda row: row.id),
    "region": (lambda row: row.aws_region, lambda row: (label(row), row.id)),
    "role": (lambda row: row.role, lambda row: (label(row), row.id)),
    "state": (lambda row: row.state, lambda row: (label(row), row.id)),
    "launched_at": (lambda row: row.launched_at or row.synced_at, lambda row: (label(row), row.id)),
}


@pytest.fixture
def instances(db_session):
    """Fourteen instances tying on region, role, state and launch time; two without a Name tag, one never
    launched, and two sharing a name."""
    rows = []
    for number in range(12):
        rows.append(make.instance(
            db_session, f"node-{number % 10:02d}", aws_id=f"i-{number:017x}",
            aws_region=("eu-west-1", "us-east-1")[number % 2], role=("deis", "postgres", "other")[number % 3],
            state=("running", "stopped")[number % 4 == 0], launched_at=MOMENT - timedelta(days=number % 3)))
    rows.append(make.instance(db_session, "", aws_id="i-1000000000000000c", launched_at=None, synced_at=MOMENT))
    rows.append(make.instance(db_session, "", aws_id="i-1000000000000000d", launched_at=MOMENT))
    rows[-2].name = rows[-1].name = None  # no Name tag: listed under the AWS id
    db_session.commit()
    return rows


def instance_ids(page) -> list[int]:
    return [row.instance.id for row in page.items]


@pytest.mark.parametrize("sort", sorted(instance_listing.SORTS))
@pytest.mark.parametrize("direction", instance_listing.DIRECTIONS)
def test_instances_next_visits_every_instance_once_in_order_and_numbered_pages_are_offset_pages(
        db_session, instances, sort, direction):
    filters = instance_listing.InstanceFilters()
    primary, tiebreaks = INSTANCE_ORDER[sort]
    expected = [row.id for row in ordered(instances, primary, tiebreaks, direction == "desc")]

    def fetch(**kwargs):
        return instance_listing.list_instances(db_session, filters, sort, direction, **kwargs)

    pages = walk(fetch, per_page=3)
    assert [instance_id for page in pages for instance_id in instance_ids(page)] == expected
    assert [page.first_index for page in pages] == [1, 4, 7, 10, 13]
    for number in range(1, 6):
        numbered = instance_listing.list_instances(db_session, filters, sort, direction, page=number, per_page=3)
        assert instance_ids(numbered) == expected[(number - 1) * 3:number * 3]
    assert instance_listing.list_instances(db_session, filters, sort, direction, page=6, per_page=3).past_end


def test_instances_added_between_pages_never_repeat_or_hide_a_row(db_session, instances):
    filters = instance_listing.InstanceFilters()
    first = instance_listing.list_instances(db_session, filters, "role", "asc", per_page=4)
    # One sorting before the cursor (never shown: its page is behind us), one after it (shown once, in place).
    make.instance(db_session, "aaa-early", role="deis", aws_id="i-1000000000000000a")
    late = make.instance(db_session, "zzz-late", role="postgres", aws_id="i-1000000000000000b")
    db_session.commit()
    pages = [first]
    while pages[-1].has_next:
        pages.append(instance_listing.list_instances(db_session, filters, "role", "asc", per_page=4,
                                                     after=pages[-1].next_cursor))
    seen = [row.instance for page in pages for row in page.items]
    assert len({row.id for row in seen}) == len(seen) == len(instances) + 1
    assert {row.id for row in instances} | {late.id} == {row.id for row in seen}
    assert seen == ordered(seen, *INSTANCE_ORDER["role"], False)


def instance_rows(html: str) -> list[int]:
    section = html[html.index('id="instance-results"'):]
    return [int(found) for found in re.findall(r'<td><a href="/instances/(\d+)">', section)]


def next_link(html: str) -> str | None:
    found = re.search(r'href="([^"]+)" [^>]*rel="next"', unescape(html))
    return found.group(1) if found else None


def follow(client, url: str, rows_of, must_carry: tuple[str, ...]) -> tuple[list[int], str]:
    """Follow Next links from `url` to the end; every link keeps `must_carry` and a cursor. The rows and last page."""
    seen: list[int] = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.get_data(as_text=True)
        seen += rows_of(html)
        url = next_link(html)
        if url:
            assert "after=" in url and all(part in url for part in must_carry), url
    return seen, html


def test_the_instances_page_links_by_cursor_and_keeps_filters_and_sort(client, login_as, db_session):
    for number in range(240):
        make.instance(db_session, f"node-{number:03d}", role=("postgres", "deis")[number % 2],
                      state=("running", "stopped")[number % 3 == 0])
    db_session.commit()
    login_as("viewer")
    seen, last = follow(client, "/instances/?role=postgres&sort=state&dir=desc", instance_rows,
                        ("role=postgres", "sort=state", "dir=desc"))
    expected = ordered([row for row in db_session.scalars(db.select(Instance))
                        if row.role == "postgres"], *INSTANCE_ORDER["state"], True)
    assert seen == [row.id for row in expected] and len(seen) == 120
    assert "101–120 of 120 instances · page 2 of 2" in last
    assert instance_rows(client.get("/instances/?role=postgres&sort=state&dir=desc&page=2")
                         .get_data(as_text=True)) == seen[100:]
    previous = re.search(r'href="([^"]+)" [^>]*rel="prev"', unescape(last)).group(1)
    assert "before=" in previous and "role=postgres" in previous
    assert instance_rows(client.get(previous).get_data(as_text=True)) == seen[:100]


# -- a zone's DNS records -------------------------------------------------------------------------------------------
@pytest.fixture
def zone_records(db_session):
    """A zone whose records tie on name (A and AAAA and TXT of one name; two A records of one name), and another
    zone whose records must never show."""
    zone, other = make.zone(db_session, "example.test"), make.zone(db_session, "other.test")
    records = []
    for number in range(9):
        name = f"host-{number % 4}.example.test"
        records.append(make.record(db_session, zone, name, ("A", "AAAA", "TXT")[number % 3],
                                   content=f"192.0.2.{number}", dangling=number % 4 == 1))
    records.append(make.record(db_session, zone, "host-1.example.test", "A", content="192.0.2.99"))
    records.append(make.record(db_session, zone, "www.example.test", "CNAME", content="host-1.example.test"))
    make.record(db_session, other, "host-1.other.test", "A")
    db_session.commit()
    return zone, records


def record_order(records) -> list[int]:
    return [record.id for record in sorted(records, key=lambda record: (record.name, record.type, record.id))]


@pytest.mark.parametrize("filters, chosen", [
    (dns_listing.RecordFilters(), lambda record: True),
    (dns_listing.RecordFilters(type="A"), lambda record: record.type == "A"),
    (dns_listing.RecordFilters(q="host-1"), lambda record: "host-1" in record.name or "host-1" in record.content),
    (dns_listing.RecordFilters(dangling_only=True), lambda record: record.dangling),
])
def test_zone_records_next_visits_every_record_once_in_order_and_numbered_pages_are_offset_pages(
        db_session, zone_records, filters, chosen):
    zone, records = zone_records
    expected = record_order([record for record in records if chosen(record)])

    def fetch(**kwargs):
        return dns_listing.list_zone_records(db_session, zone.id, filters, **kwargs)

    pages = walk(fetch, per_page=2)
    assert [record.id for page in pages for record in page.items] == expected and expected
    for number in range(1, len(pages) + 1):
        numbered = dns_listing.list_zone_records(db_session, zone.id, filters, page=number, per_page=2)
        assert [record.id for record in numbered.items] == expected[(number - 1) * 2:number * 2]


def test_zone_records_added_between_pages_never_repeat_or_hide_a_row(db_session, zone_records):
    zone, records = zone_records
    filters = dns_listing.RecordFilters()
    pages = [dns_listing.list_zone_records(db_session, zone.id, filters, per_page=3)]
    early = make.record(db_session, zone, "aaa.example.test", "A")
    tied = make.record(db_session, zone, "host-2.example.test", "TXT", content="later")  # ties on name and type
    db_session.commit()
    while pages[-1].has_next:
        pages.append(dns_listing.list_zone_records(db_session, zone.id, filters, per_page=3,
                                                   after=pages[-1].next_cursor))
    seen = [record.id for page in pages for record in page.items]
    assert len(set(seen)) == len(seen) and early.id not in seen
    assert seen == record_order([*records, tied])


def record_rows(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr id="record-(\d+)"', html)]


def test_the_zone_page_links_by_cursor_and_keeps_the_filters(client, login_as, db_session):
    zone = make.zone(db_session, "big.test")
    for number in range(230):
        make.record(db_session, zone, f"h-{number % 150:03d}.big.test", ("A", "AAAA")[number // 150])
    db_session.commit()
    login_as("viewer")
    seen, _ = follow(client, f"/dns/zones/{zone.id}?type=A&q=big", record_rows, ("type=A", "q=big"))
    assert len(seen) == 150 and seen == record_order(
        [record for record in zone.records if record.type == "A"])
    all_pages, _ = follow(client, f"/dns/zones/{zone.id}", record_rows, ())
    assert all_pages == record_order(zone.records) and len(all_pages) == 230
    numbered = client.get(f"/dns/zones/{zone.id}?page=3").get_data(as_text=True)
    assert record_rows(numbered) == all_pages[200:] and "201–230 of 230 records · page 3 of 3" in numbered


# -- the audit log --------------------------------------------------------------------------------------------------
def logged(action: str, at: datetime, actor: str = "alice", **fields) -> AuditEvent:
    recorded = audit.record(db.session, actor=actor, action=action, **fields)
    recorded.at = at
    return recorded


@pytest.fixture
def events(db_session):
    """Thirty events, many at the very same instant, by two actors, sign-ins among them."""
    rows = []
    for number in range(30):
        rows.append(logged(("app.monitoring", "user.role", "auth.sign_in")[number % 3],
                           MOMENT - timedelta(days=number % 4, minutes=0 if number % 5 else 1),
                           actor=("alice", "bob")[number % 2], target=f"app-{number:02d}"))
    db_session.commit()
    return rows


def event_order(rows) -> list[int]:
    return [row.id for row in sorted(rows, key=lambda row: (row.at, row.id), reverse=True)]


AUDIT_FILTERS = [
    (audit_log.AuditFilters(), lambda row: not row.action.startswith("auth.")),
    (audit_log.AuditFilters(sign_ins=True), lambda row: True),
    (audit_log.AuditFilters(actor="bob"), lambda row: row.actor == "bob" and row.action != "auth.sign_in"),
    (audit_log.AuditFilters(action="user."), lambda row: row.action == "user.role"),
    (audit_log.AuditFilters(since=(MOMENT - timedelta(days=1)).date(), until=MOMENT.date(), sign_ins=True),
     lambda row: row.at >= MOMENT.replace(hour=0) - timedelta(days=1)),
    (audit_log.AuditFilters(q="app-1"), lambda row: row.target.startswith("app-1") and row.action != "auth.sign_in"),
]


@pytest.mark.parametrize("filters, chosen", AUDIT_FILTERS)
def test_audit_next_visits_every_event_once_newest_first_and_numbered_pages_are_offset_pages(
        db_session, events, filters, chosen):
    expected = event_order([row for row in events if chosen(row)])

    def fetch(**kwargs):
        return audit_log.audit_page(db_session, filters, **kwargs)

    pages = walk(fetch, per_page=4)
    assert [row.id for page in pages for row in page.items] == expected and expected
    for number in range(1, len(pages) + 1):
        assert [row.id for row in audit_log.audit_page(db_session, filters, number, per_page=4).items] == \
            expected[(number - 1) * 4:number * 4]
    # Back again by Previous cursors: the same pages.
    for earlier, later in zip(pages, pages[1:]):
        back = audit_log.audit_page(db_session, filters, per_page=4, before=later.prev_cursor)
        assert [row.id for row in back.items] == [row.id for row in earlier.items]


def test_audit_events_written_between_pages_never_repeat_or_hide_a_row(db_session, events):
    filters = audit_log.AuditFilters(sign_ins=True)
    pages = [audit_log.audit_page(db_session, filters, per_page=5)]
    logged("app.monitoring", utcnow())  # newer than page 1: not shown by its Next pages
    backdated = logged("app.monitoring", MOMENT - timedelta(days=3, minutes=1))  # ties with old events
    db_session.commit()
    while pages[-1].has_next:
        pages.append(audit_log.audit_page(db_session, filters, per_page=5, after=pages[-1].next_cursor))
    seen = [row.id for page in pages for row in page.items]
    assert seen == event_order([*events, backdated])


def audit_rows(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr id="event-(\d+)"', html)]


def test_the_audit_page_links_by_cursor_keeps_filters_and_exports_exactly_the_filtered_events(
        client, login_as, db_session):
    for number in range(200):  # every half hour (two at each instant), back to 2026-11-16 08:00
        logged(("app.monitoring", "user.role")[number % 2], MOMENT - timedelta(minutes=30 * (number // 2)),
               actor=("alice", "bob")[number % 10 == 0], target=f"app-{number}")
    db_session.commit()
    login_as("admin")
    query = "actor=alice&action=app.&since=2026-11-17&until=2026-11-19"
    seen, last = follow(client, f"/audit/?{query}", audit_rows,
                        ("actor=alice", "action=app.", "since=2026-11-17", "until=2026-11-19"))
    expected = event_order(db_session.scalars(db.select(AuditEvent).where(
        AuditEvent.actor == "alice", AuditEvent.action == "app.monitoring",
        AuditEvent.at >= datetime(2026, 11, 17, tzinfo=timezone.utc),
        AuditEvent.at < datetime(2026, 11, 20, tzinfo=timezone.utc))))
    assert seen == expected and len(seen) > audit_log.PER_PAGE
    export_link = re.search(r'href="(/audit/export.csv\?[^"]+)"', unescape(last)).group(1)
    assert "after=" not in export_link and "actor=alice" in export_link
    exported = list(csv.DictReader(io.StringIO(download(client, export_link).body)))
    by_id = {row.id: row for row in db_session.scalars(db.select(AuditEvent))}
    assert [(line["at"], line["target"]) for line in exported] == [
        (by_id[event_id].at.isoformat(), by_id[event_id].target) for event_id in seen]


# -- a cursor that is not one the list wrote ------------------------------------------------------------------------
TAMPERED = ["nonsense", "%%%", "A" * 3000, encode_cursor(["a", "b"]), encode_cursor([1, 2, 3, 4]),
            encode_cursor(["a", "b", 1, -1]), encode_cursor(["a", "b", "1", 0]), encode_cursor(["a", "b", 0]),
            encode_cursor([MOMENT, "1", 0]), encode_cursor([MOMENT.replace(tzinfo=None), 1, 0])]


@pytest.mark.parametrize("cursor", TAMPERED)
@pytest.mark.parametrize("name", ["after", "before"])
def test_a_tampered_cursor_shows_the_first_page_of_each_list_with_a_clear_400(client, login_as, db_session,
                                                                              cursor, name):
    for number in range(3):
        make.instance(db_session, f"node-{number}")
    zone = make.zone(db_session, "example.test")
    for number in range(3):
        make.record(db_session, zone, f"h-{number}.example.test")
    admin = login_as("admin")
    for number in range(3):
        logged("app.monitoring", MOMENT - timedelta(minutes=number), actor=admin.username)
    db_session.commit()
    for url, rows_of, count in ((f"/instances/?role=deis&{name}={cursor}", instance_rows, 3),
                                (f"/dns/zones/{zone.id}?type=A&{name}={cursor}", record_rows, 3),
                                (f"/audit/?actor={admin.username}&{name}={cursor}", audit_rows, 3)):
        response = client.get(url)
        html = response.get_data(as_text=True)
        assert response.status_code == 400, url
        assert "Bad page link" in html and len(rows_of(html)) == count, url
