"""`contains_text`'s cheap LIKE on the caseless part of a search narrows nothing the case-insensitive match accepts:
its rows are exactly plain ILIKE's, on SQLite and on PostgreSQL."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import App
from app.queries.text_search import CASELESS_RUN, ESCAPE, contains_text
from tests import factories as make

NAMES = ["app-0123", "APP-01234", "App-0123x", "xapp-0123", "app-012", "app_0123", "app%0123", "app-0-123",
         "ÄPP-0123", "äpp-0123", "app–0123", "shop-eu.1", "SHOP-EU.12", "shop-eu/1", "db:5432@pg", "DB:5432@PG",
         "billing", "Billing-2", "a\\b-12"]
NEEDLES = ["app-0123", "APP-0123", "pp-01", "äpp-0123", "ÄPP-0", "app_0123", "app%0123", "-0", "0123", "eu.1",
           "EU.12", "u/1", ":5432@", "billing", "ing-2", "\\b-1", "-", "1", "nothing-99"]


def plain_ilike(column, text: str):
    escaped = text.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")
    return column.ilike(f"%{escaped}%", escape=ESCAPE)


@pytest.fixture
def named(db_session):
    cluster = make.cluster(db_session, "prod-eu")
    for name in NAMES:
        make.app(db_session, name, cluster)
    db_session.commit()


@pytest.mark.parametrize("needle", NEEDLES)
def test_the_prefiltered_match_returns_exactly_the_ilike_rows(db_session, named, needle):
    def names(predicate):
        return sorted(db_session.scalars(select(App.name).where(predicate)))

    assert names(contains_text(App.name, needle)) == names(plain_ilike(App.name, needle))


def test_the_prefilter_is_only_added_for_a_caseless_run():
    assert CASELESS_RUN.findall("app-0123") == ["-0123"]
    assert CASELESS_RUN.findall("billing") == []
    assert str(contains_text(App.name, "app-0123")).upper().count("LIKE") == 2
    assert str(contains_text(App.name, "billing")) == str(plain_ilike(App.name, "billing"))
