"""Keyset (seek) pages of the applications list: stable order with ties, filters kept, next/previous, bad cursors."""
from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest

from app.models import utcnow
from app.queries import app_listing, paging
from app.queries.paging import BadCursor, decode_cursor, encode_cursor
from tests import factories as make
from tests.views.test_apps import rows_of


@pytest.fixture
def tied(db_session):
    """Seventeen apps on two clusters whose owners, types and sync times tie a lot (and two names tie too)."""
    eu, us = make.cluster(db_session, "prod-eu"), make.cluster(db_session, "prod-us")
    moment = utcnow().replace(microsecond=0)
    apps = []
    for number in range(15):
        apps.append(make.app(db_session, f"app-{number:02d}", (eu, us)[number % 2], owner=f"owner-{number % 3}",
                             app_type=("web", "worker")[number % 2], synced_at=moment - timedelta(hours=number % 2),
                             monitoring_enabled=number % 4 == 0))
    apps.append(make.app(db_session, "app-07", eu, owner="owner-1"))  # same name as app-07 on prod-us
    apps.append(make.app(db_session, "app-08", us, owner="owner-2"))  # same name as app-08 on prod-eu
    db_session.commit()
    return apps


def walk(session, filters, sort, direction, per_page=4):
    """Every page by Next cursors; returns the app ids per page and the pages."""
    pages = [app_listing.list_apps(session, filters, sort, direction, per_page=per_page)]
    while pages[-1].has_next:
        pages.append(app_listing.list_apps(session, filters, sort, direction, per_page=per_page,
                                           after=pages[-1].next_cursor))
        assert len(pages) < 50
    return pages


def ids(page):
    return [row.app.id for row in page.items]


@pytest.mark.parametrize("sort", sorted(app_listing.SORTS))
@pytest.mark.parametrize("direction", app_listing.DIRECTIONS)
def test_following_next_visits_every_app_once_in_the_offset_order(db_session, tied, sort, direction):
    filters = app_listing.AppFilters()
    everything = app_listing.list_apps(db_session, filters, sort, direction, per_page=100)
    pages = walk(db_session, filters, sort, direction)
    assert [app_id for page in pages for app_id in ids(page)] == ids(everything)
    assert len(ids(everything)) == 17
    assert [page.page for page in pages] == [1, 2, 3, 4, 5]
    assert [page.first_index for page in pages] == [1, 5, 9, 13, 17]
    assert not pages[0].has_prev and pages[1].has_prev and not pages[-1].has_next


@pytest.mark.parametrize("sort", ["owner", "synced_at"])
def test_previous_goes_back_to_exactly_the_page_before(db_session, tied, sort):
    filters = app_listing.AppFilters()
    pages = walk(db_session, filters, sort, "desc")
    for earlier, later in zip(pages, pages[1:]):
        back = app_listing.list_apps(db_session, filters, sort, "desc", per_page=4, before=later.prev_cursor)
        assert ids(back) == ids(earlier) and back.page == earlier.page and back.first_index == earlier.first_index


def test_a_numbered_page_is_the_page_the_cursors_reach(db_session, tied):
    filters = app_listing.AppFilters()
    pages = walk(db_session, filters, "owner", "asc")
    for number, page in enumerate(pages, start=1):
        assert ids(app_listing.list_apps(db_session, filters, "owner", "asc", page=number, per_page=4)) == ids(page)
    past = app_listing.list_apps(db_session, filters, "owner", "asc", page=9, per_page=4)
    assert past.past_end and past.items == []


@pytest.mark.parametrize("sort", sorted(app_listing.SORTS))
@pytest.mark.parametrize("direction", app_listing.DIRECTIONS)
@pytest.mark.parametrize("per_page", [1, 2, 3])
def test_every_numbered_page_of_every_sort_starts_where_the_cursors_do_even_inside_ties(db_session, tied, sort,
                                                                                      direction, per_page):
    # The key of a numbered page is found from the leading column, a count of the rows before its value, and the
    # tied rows alone: a page boundary falling inside a run of equal names, owners or types must land exactly.
    check_numbered_pages(db_session, sort, direction, per_page)


@pytest.mark.parametrize("sort", ["owner", "type"])
def test_numbered_pages_land_when_the_ties_reach_past_the_window_read_before_them(db_session, tied, sort,
                                                                                 monkeypatch):
    # Long runs of one owner or type behind the page's first row: the rows before the run are counted instead.
    monkeypatch.setattr(paging, "TIE_WINDOW", 1)
    for direction in app_listing.DIRECTIONS:
        check_numbered_pages(db_session, sort, direction, 2)


def check_numbered_pages(db_session, sort, direction, per_page):
    for filters in (app_listing.AppFilters(), app_listing.AppFilters(q="app-0"), app_listing.AppFilters(q="owner-1")):
        pages = walk(db_session, filters, sort, direction, per_page=per_page)
        for number, page in enumerate(pages, start=1):
            numbered = app_listing.list_apps(db_session, filters, sort, direction, page=number, per_page=per_page)
            assert ids(numbered) == ids(page), (filters, number)
            assert numbered.first_index == page.first_index


def test_filters_hold_on_every_page(db_session, tied):
    filters = app_listing.AppFilters(cluster="prod-eu", app_type="web")
    pages = walk(db_session, filters, "name", "asc", per_page=2)
    seen = [row.app for page in pages for row in page.items]
    assert {(app.cluster.name, app.app_type) for app in seen} == {("prod-eu", "web")}
    assert len(seen) == pages[0].total == 9  # app-00, 02, ..., 14 and the second app-07


def test_the_list_page_links_next_and_previous_by_cursor_and_keeps_the_filters(client, login_as, db_session):
    cluster, other = make.cluster(db_session, "prod-eu"), make.cluster(db_session, "prod-us")
    for number in range(230):
        make.app(db_session, f"app-{number:03d}", cluster, owner="same", monitoring_enabled=number % 2 == 0)
        make.app(db_session, f"app-{number:03d}", other, owner="same", monitoring_enabled=True)
    db_session.commit()
    login_as("viewer")
    url, names, links = "/apps/?cluster=prod-eu&monitoring=yes&sort=owner", [], []
    while url:
        html = unescape(client.get(url).get_data(as_text=True))
        names += rows_of(html)
        found = re.search(r'href="([^"]+)" [^>]*rel="next"', html)
        url = found.group(1) if found else None
        if url:
            links.append(url)
            assert "cluster=prod-eu" in url and "monitoring=yes" in url and "sort=owner" in url and "after=" in url
    assert names == [f"app-{number:03d}" for number in range(0, 230, 2)]
    assert "101–115 of 115 apps · page 2 of 2" in html
    previous = re.search(r'href="([^"]+)" [^>]*rel="prev"', html).group(1)
    assert "before=" in previous and "cluster=prod-eu" in previous
    back = unescape(client.get(previous).get_data(as_text=True))
    assert rows_of(back) == names[:100] and "1–100 of 115 apps · page 1 of 2" in back


@pytest.mark.parametrize("cursor", ["nonsense", "%%%", encode_cursor(["a", "b"]), encode_cursor([1, 2, 3, 4]),
                                    encode_cursor([1, "prod-eu", 1, 0]), encode_cursor(["a", "prod-eu", 1, -1]),
                                    encode_cursor(["a", "prod-eu", "1", 0]), encode_cursor(["a", "prod-eu", 1, True]),
                                    "eyJ4Ijox", "W1sieiIsMV0sWyJzIiwiYSJdLFsiaSIsMV1d", "A" * 3000])
@pytest.mark.parametrize("name", ["after", "before"])
def test_a_bad_cursor_shows_the_first_page_with_a_clear_400(client, login_as, db_session, cursor, name):
    cluster = make.cluster(db_session, "prod-eu")
    for number in range(3):
        make.app(db_session, f"app-{number}", cluster)
    db_session.commit()
    login_as("viewer")
    response = client.get(f"/apps/?{name}={cursor}")
    html = unescape(response.get_data(as_text=True))
    assert response.status_code == 400
    assert "Bad page link" in html and rows_of(html) == ["app-0", "app-1", "app-2"]


def test_cursor_round_trip_and_refusals():
    moment = utcnow()
    assert decode_cursor(encode_cursor(["x", moment, 7]), 3) == ["x", moment, 7]
    for bad in ("", "!!", encode_cursor(["x", None]), encode_cursor(["x"])):
        with pytest.raises(BadCursor):
            decode_cursor(bad, 2)
