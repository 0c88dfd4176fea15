"""Keyset (seek) pages of the certificates and alerts lists: Next from page 1 to the end visits every row once in the
displayed order (ties in the sort key, certificates without an expiry, rows added between requests), a numbered page
is the OFFSET page of the list's original ORDER BY, Previous goes back, a tampered cursor gives the first page with
400, and filters ride along the cursor links."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app.models import Alert, AlertDelivery, Certificate, Cluster, utcnow
from app.queries import alerts as alert_queries
from app.queries import certificates as certificate_queries
from app.queries.paging import encode_cursor
from tests import factories as make
from tests.views.test_list_keyset_paging import TAMPERED, follow, walk

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
FAR = datetime.max.replace(tzinfo=timezone.utc)


def back_and_forth(fetch, pages) -> None:
    """Previous from each page gives the page before it, and every numbered page is the page Next reached."""
    for earlier, later in zip(pages, pages[1:]):
        assert [id_of(row) for row in fetch(before=later.prev_cursor).items] == [id_of(row) for row in earlier.items]
    for number, reached in enumerate(pages, start=1):
        assert [id_of(row) for row in fetch(page=number).items] == [id_of(row) for row in reached.items]


def id_of(row) -> int:
    return row.certificate.id if isinstance(row, certificate_queries.CertificateRow) else row.id


# -- certificates ---------------------------------------------------------------------------------------------------
def certificate_key(certificate: Certificate):
    """The list's order computed here, apart from the database: soonest expiry, none known last, then name, id."""
    return (certificate.expires_at is None, certificate.expires_at or FAR, certificate.name, certificate.id)


def offset_certificates(session, filters, offset: int, limit: int) -> list[int]:
    """The rows the list showed when it was an OFFSET page of its original ORDER BY."""
    query = certificate_queries._filtered(select(Certificate.id), filters, NOW).order_by(
        Certificate.expires_at.is_(None), Certificate.expires_at, Certificate.name, Certificate.id)
    return list(session.scalars(query.offset(offset).limit(limit)))


def certificate(session, cluster: Cluster, name: str, expires_at: datetime | None) -> Certificate:
    row = make.certificate(session, cluster, f"{name}.example.test", name=name)
    row.expires_at = expires_at
    return row


@pytest.fixture
def certificates(db_session):
    """Nineteen certificates on two clusters: expiries tying to the microsecond, names tying across clusters, three
    without an expiry (tied on name too), every urgency."""
    eu, us = make.cluster(db_session, "prod-eu"), make.cluster(db_session, "prod-us")
    rows = []
    for number in range(16):
        expires = NOW + timedelta(days=(-3, 5, 5, 20, 60)[number % 5])
        rows.append(certificate(db_session, (eu, us)[number % 2], f"cert-{number // 2:02d}", expires))
    for number, cluster in enumerate((eu, us, us)):
        rows.append(certificate(db_session, cluster, f"unknown-{number // 2}", None))
    db_session.commit()
    return rows


CERTIFICATE_FILTERS = [
    certificate_queries.CertificateFilters(),
    certificate_queries.CertificateFilters(cluster="prod-us"),
    *(certificate_queries.CertificateFilters(urgency=urgency) for urgency in certificate_queries.URGENCIES),
    certificate_queries.CertificateFilters(cluster="prod-eu", urgency="critical"),
]


def kept_by(filters, row: Certificate) -> bool:
    return ((filters.cluster is None or row.cluster.name == filters.cluster)
            and (filters.urgency is None or certificate_queries.urgency_of(row.expires_at, NOW) == filters.urgency))


@pytest.mark.parametrize("filters", CERTIFICATE_FILTERS, ids=lambda filters: f"{filters.cluster}-{filters.urgency}")
def test_certificates_next_visits_every_certificate_once_in_order_and_numbered_pages_are_offset_pages(
        db_session, certificates, filters):
    expected = [row.id for row in sorted(certificates, key=certificate_key) if kept_by(filters, row)]
    assert expected

    def fetch(**kwargs):
        return certificate_queries.list_certificates(db_session, filters, NOW, per_page=kwargs.pop("per_page", 3),
                                                     **kwargs)

    pages = walk(fetch, per_page=3)
    assert [id_of(row) for page in pages for row in page.items] == expected
    assert [page.first_index for page in pages] == list(range(1, len(expected) + 1, 3))
    for number in range(1, len(pages) + 1):
        assert [id_of(row) for row in fetch(page=number).items] == \
            offset_certificates(db_session, filters, (number - 1) * 3, 3) == expected[(number - 1) * 3:number * 3]
    back_and_forth(fetch, pages)
    assert fetch(page=len(pages) + 1).past_end


def test_certificates_added_between_pages_never_repeat_or_hide_a_row(db_session, certificates):
    filters = certificate_queries.CertificateFilters()
    first = certificate_queries.list_certificates(db_session, filters, NOW, per_page=4)
    cluster = certificates[0].cluster
    # Before the cursor (its page is behind us: never shown); tied with shown rows on expiry (name after theirs);
    # one more without an expiry (last of all).
    certificate(db_session, cluster, "aaa-early", NOW - timedelta(days=30))
    tied = certificate(db_session, cluster, "cert-99", certificates[1].expires_at)
    unknown = certificate(db_session, cluster, "zzz-unknown", None)
    db_session.commit()
    pages = [first]
    while pages[-1].has_next:
        pages.append(certificate_queries.list_certificates(db_session, filters, NOW, per_page=4,
                                                           after=pages[-1].next_cursor))
    seen = [id_of(row) for page in pages for row in page.items]
    assert seen == [row.id for row in sorted([*certificates, tied, unknown], key=certificate_key)]
    assert seen[-1] == unknown.id


def certificate_rows(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr class="cert-row [a-z]+" id="certificate-(\d+)"', html)]


def test_the_certificates_page_links_by_cursor_and_keeps_the_filters(client, login_as, db_session):
    eu, us = make.cluster(db_session, "prod-eu"), make.cluster(db_session, "prod-us")
    today = utcnow()  # the page judges urgency by the clock: every dated one here is "ok"
    for number in range(260):
        expires = None if number % 13 == 0 else today + timedelta(days=40 + number % 7)
        certificate(db_session, (eu, us)[number % 2], f"host-{number:03d}", expires)
    db_session.commit()
    login_as("viewer")
    seen, last = follow(client, "/certificates/?cluster=prod-us&urgency=ok", certificate_rows,
                        ("cluster=prod-us", "urgency=ok"))
    chosen = db_session.scalars(select(Certificate).join(Certificate.cluster).where(
        Cluster.name == "prod-us", Certificate.expires_at.is_not(None))).all()
    assert seen == [row.id for row in sorted(chosen, key=certificate_key)] and len(seen) == 120
    assert "101–120 of 120 certificates · page 3 of 3" in last
    everything, _ = follow(client, "/certificates/", certificate_rows, ())
    assert everything == [row.id for row in sorted(db_session.scalars(select(Certificate)), key=certificate_key)]
    assert len(everything) == 260
    numbered = client.get("/certificates/?page=5").get_data(as_text=True)
    assert certificate_rows(numbered) == everything[200:250] and "201–250 of 260 certificates" in numbered
    previous = re.search(r'href="([^"]+)" [^>]*rel="prev"', last.replace("&amp;", "&")).group(1)
    assert "before=" in previous and "cluster=prod-us" in previous and "urgency=ok" in previous
    assert certificate_rows(client.get(previous).get_data(as_text=True)) == seen[50:100]


# -- alerts ---------------------------------------------------------------------------------------------------------
def alert_key(alert: Alert):
    """Unresolved first, newest first, then the newest id."""
    return (alert.resolved_at is not None, -alert.last_at.timestamp(), -alert.id)


def offset_alerts(session, kind, state, offset: int, limit: int) -> list[int]:
    query = alert_queries._in_state(select(Alert.id), state)
    if kind:
        query = query.where(Alert.kind == kind)
    query = query.order_by(Alert.resolved_at.is_not(None), Alert.last_at.desc(), Alert.id.desc())
    return list(session.scalars(query.offset(offset).limit(limit)))


def alert(session, number: int, kind: str, last_at: datetime, *, resolved: bool = False,
          acknowledged: bool = False) -> Alert:
    row = Alert(kind=kind, dedup_key=f"{kind}:{number}", message=f"alert number {number:03d}", first_at=last_at,
                last_at=last_at, resolved_at=last_at + timedelta(minutes=5) if resolved else None,
                acknowledged_at=last_at if acknowledged else None, acknowledged_by="alice" if acknowledged else None)
    session.add(row)
    return row


@pytest.fixture
def alert_rows(db_session):
    """Twenty alerts of two kinds, many seen last at the very same instant, open, acknowledged and resolved."""
    rows = [alert(db_session, number, ("sync_failing", "operation_stuck")[number % 2],
                  NOW - timedelta(hours=number % 4), resolved=number % 3 == 0, acknowledged=number % 5 == 0)
            for number in range(20)]
    db_session.commit()
    return rows


ALERT_FILTERS = [(None, None), ("sync_failing", None), (None, "open"), (None, "acknowledged"), (None, "resolved"),
                 ("operation_stuck", "resolved")]


@pytest.mark.parametrize("kind, state", ALERT_FILTERS)
def test_alerts_next_visits_every_alert_once_in_order_and_numbered_pages_are_offset_pages(
        db_session, alert_rows, kind, state):
    expected = [row.id for row in sorted(alert_rows, key=alert_key)
                if (kind is None or row.kind == kind) and (state is None or row.state == state)]
    assert expected

    def fetch(**kwargs):
        return alert_queries.alert_page(db_session, kind, state, per_page=kwargs.pop("per_page", 3), **kwargs)

    pages = walk(fetch, per_page=3)
    assert [row.id for page in pages for row in page.items] == expected
    for number in range(1, len(pages) + 1):
        assert [row.id for row in fetch(page=number).items] == \
            offset_alerts(db_session, kind, state, (number - 1) * 3, 3) == expected[(number - 1) * 3:number * 3]
    back_and_forth(fetch, pages)
    assert fetch(page=len(pages) + 1).past_end


def test_alerts_raised_between_pages_never_repeat_or_hide_a_row(db_session, alert_rows):
    first = alert_queries.alert_page(db_session, None, None, per_page=4)
    alert(db_session, 100, "sync_failing", NOW + timedelta(hours=1))  # newer than page 1: behind the cursor
    tied = alert(db_session, 101, "sync_failing", NOW - timedelta(hours=2))  # ties on last_at, a newer id
    old_resolved = alert(db_session, 102, "operation_stuck", NOW - timedelta(days=9), resolved=True)
    db_session.commit()
    pages = [first]
    while pages[-1].has_next:
        pages.append(alert_queries.alert_page(db_session, None, None, per_page=4, after=pages[-1].next_cursor))
    seen = [row.id for page in pages for row in page.items]
    assert seen == [row.id for row in sorted([*alert_rows, tied, old_resolved], key=alert_key)]
    assert seen[-1] == old_resolved.id


def alert_rows_of(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr id="alert-(\d+)"', html)]


def test_the_alerts_page_links_by_cursor_keeps_the_filters_and_shows_deliveries(client, login_as, db_session):
    rows = [alert(db_session, number, ("sync_failing", "operation_stuck")[number % 2],
                  NOW - timedelta(minutes=number // 3), resolved=number % 7 == 0) for number in range(300)]
    db_session.flush()
    deep = sorted([row for row in rows if row.kind == "sync_failing" and not row.resolved_at], key=alert_key)[-1]
    db_session.add(AlertDelivery(alert=deep, notice="raised", channel="email", channel_label="ops@example.test",
                                 state="delivered", attempts=1))
    db_session.commit()
    login_as("viewer")
    seen, last = follow(client, "/alerts/?kind=sync_failing&state=open", alert_rows_of,
                        ("kind=sync_failing", "state=open"))
    expected = [row.id for row in sorted(rows, key=alert_key) if row.kind == "sync_failing" and row.state == "open"]
    assert seen == expected and len(seen) > alert_queries.PER_PAGE * 2
    assert seen[-1] == deep.id and "ops@example.test" in last  # the last page's rows have their deliveries
    everything, _ = follow(client, "/alerts/", alert_rows_of, ())
    assert everything == [row.id for row in sorted(rows, key=alert_key)] and len(everything) == 300
    numbered = client.get("/alerts/?page=4").get_data(as_text=True)
    assert alert_rows_of(numbered) == everything[150:200] and "151–200 of 300 alerts · page 4 of 6" in numbered


# -- a cursor that is not one the list wrote ------------------------------------------------------------------------
OWN_TAMPERED = [encode_cursor([NOW, "cert", "1", 0]), encode_cursor([True, NOW, "1", 0]),
                encode_cursor([1, NOW, 1, 0]), encode_cursor([NOW.replace(tzinfo=None), "cert", 1, 0]),
                encode_cursor([False, NOW.replace(tzinfo=None), 1, 0])]


@pytest.mark.parametrize("cursor", TAMPERED + OWN_TAMPERED)
@pytest.mark.parametrize("name", ["after", "before"])
def test_a_tampered_cursor_shows_the_first_page_of_certificates_and_alerts_with_a_clear_400(
        client, login_as, db_session, cursor, name):
    cluster = make.cluster(db_session, "prod-eu")
    for number in range(3):
        certificate(db_session, cluster, f"cert-{number}", NOW + timedelta(days=number))
        alert(db_session, number, "sync_failing", NOW - timedelta(minutes=number))
    db_session.commit()
    login_as("viewer")
    for url, rows_of in ((f"/certificates/?cluster=prod-eu&{name}={cursor}", certificate_rows),
                         (f"/alerts/?kind=sync_failing&{name}={cursor}", alert_rows_of)):
        response = client.get(url)
        html = response.get_data(as_text=True)
        assert response.status_code == 400, url
        assert "Bad page link" in html and len(rows_of(html)) == 3, url
