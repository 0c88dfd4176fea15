"""Where the panel does not track something, it says so; where two facts look contradictory, it explains both."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.queries.databases import database_url_target
from app.views.formatting import expiry
from app.models import utcnow
from tests import factories as make


def section(html: str, name: str) -> str:
    start = html.index(f'id="{name}"')
    return html[start:html.index("</section>", start)]


def test_a_hand_set_database_url_shows_where_it_points_and_that_the_panel_does_not_manage_it(
        client, login_as, db_session):
    legacy = make.app(db_session, "legacy", config_values={
        "DATABASE_URL": "postgres://legacy_user:hunter2-very-secret@db.legacy.example.net:6432/legacy_prod"})
    db_session.commit()
    login_as("viewer")
    html = client.get(f"/apps/{legacy.id}").get_data(as_text=True)
    database = section(html, "database")
    assert "No database" not in database
    assert "not managed by the panel" in database
    assert "<code>db.legacy.example.net:6432/legacy_prod</code>" in database
    assert "hunter2-very-secret" not in html and "legacy_user" not in database  # host and database name only
    assert "Backups not tracked" in section(html, "backups")


def test_database_url_target_keeps_host_and_name_only():
    assert database_url_target("postgres://u:p@h.example:5432/db?sslmode=require") == "h.example:5432/db"
    assert database_url_target("postgres://u:p@h.example") == "h.example"
    assert database_url_target("not a url") == "an address the panel cannot read"
    assert database_url_target("postgres://u:p@[::1/db") == "an address the panel cannot read"


@pytest.fixture
def three_apps(db_session):
    cluster = make.cluster(db_session, "eu-prod")
    apps = [make.app(db_session, name, cluster, app_type=kind)
            for name, kind in (("shop", "web"), ("api", "web"), ("jobs", "worker"))]
    db_session.commit()
    return cluster, apps


def test_home_does_not_call_unchecked_apps_matching(client, login_as, three_apps, db_session):
    login_as("viewer")
    panel = client.get("/").get_data(as_text=True)
    panel = panel[panel.index('id="panel-limits"'):].split("</article>")[0]
    assert "Every app" not in panel
    assert "Not tracked: no app has a limit set" in panel and "3 of 3 apps have no limit set" in panel
    make.limit_set(db_session, three_apps[0], "web")
    db_session.commit()
    panel = client.get("/").get_data(as_text=True)
    panel = panel[panel.index('id="panel-limits"'):].split("</article>")[0]
    assert "Every app with a limit set matches it." in panel and "1 of 3 apps have no limit set" in panel


@pytest.fixture
def watched(db_session):
    europe = make.region(db_session, "europe")
    america = make.region(db_session, "america", aws_region="us-east-1")
    us_mon = make.cluster(db_session, "us-mon", america, kind="monitoring")
    eu_prod = make.cluster(db_session, "eu-prod", europe, monitored_from=us_mon)
    lonely = make.cluster(db_session, "lonely", make.region(db_session, "far-away"), kind="staging")
    off = make.app(db_session, "quiet", eu_prod, monitoring_enabled=False)
    on = make.app(db_session, "loud", eu_prod, monitoring_enabled=True)
    orphan = make.app(db_session, "orphan", lonely, monitoring_enabled=True)
    db_session.commit()
    return {"off": off, "on": on, "orphan": orphan, "us_mon": us_mon}


def test_monitoring_disabled_beside_monitored_from_is_explained(client, login_as, watched):
    login_as("viewer")
    html = client.get(f"/apps/{watched['off'].id}").get_data(as_text=True)
    assert "Cluster monitored from" in html and "(the app itself: see Monitoring)" in html
    monitoring = unescape_tags(section(html, "monitoring"))
    assert "disabled" in monitoring
    assert "Not checked: monitoring is off for this app. Its cluster is watched from us-mon, which checks only" \
           " the apps with monitoring on." in monitoring
    on = unescape_tags(section(client.get(f"/apps/{watched['on'].id}").get_data(as_text=True), "monitoring"))
    assert "Checked by us-mon, the monitor watching eu-prod." in on
    orphan = unescape_tags(section(client.get(f"/apps/{watched['orphan'].id}").get_data(as_text=True),
                                   "monitoring"))
    assert "Monitoring is on, but no monitoring cluster watches lonely: nothing checks this app." in orphan


def test_the_toggle_swaps_in_the_new_explanation(client, login_as, watched):
    login_as("admin")
    page = client.get(f"/apps/{watched['off'].id}").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)[1]
    html = client.post(f"/apps/{watched['off'].id}/monitoring", data={"enabled": "on", "place": "page"},
                       headers={"HX-Request": "true", "X-CSRFToken": token}).get_data(as_text=True)
    assert "Checked by" in unescape_tags(html) and "Not checked" not in html


def unescape_tags(html: str) -> str:
    """The text of a fragment, with tags dropped and spaces collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


def test_the_deis_default_domain_is_shown_apart_and_needs_no_record(client, login_as, db_session):
    cluster = make.cluster(db_session, "eu-prod")
    shop = make.app(db_session, "shop", cluster)
    make.domain(db_session, shop, "shop")  # what the controller adds on creation
    make.domain(db_session, shop, "shop.example.com")
    db_session.commit()
    login_as("viewer")
    domains = section(client.get(f"/apps/{shop.id}").get_data(as_text=True), "domains")
    table = domains[:domains.index("</table>")]
    assert "<strong>shop.example.com</strong>" in table and "<strong>shop</strong>" not in table
    assert table.count("no DNS record") == 1  # only the domain someone added needs one
    assert '<span class="badge">Deis default</span> <code>shop</code>' in domains
    assert "needs no DNS record of its own" in domains
    assert 'Domains <span class="badge">1</span>' in domains


def test_expiry_is_worded_the_same_on_every_page(client, login_as, db_session):
    cluster = make.cluster(db_session, "eu-prod")
    shop = make.app(db_session, "shop", cluster)
    gone = make.certificate(db_session, cluster, "old.shop.example.com", expires_in=-timedelta(days=3, hours=2))
    soon = make.certificate(db_session, cluster, "new.shop.example.com", expires_in=timedelta(days=5, hours=2))
    make.domain(db_session, shop, "old.shop.example.com", gone)
    make.domain(db_session, shop, "new.shop.example.com", soon)
    db_session.commit()
    login_as("viewer")
    pages = [client.get(url).get_data(as_text=True) for url in ("/", f"/apps/{shop.id}", "/certificates/")]
    for html in pages:
        text = unescape_tags(html)
        assert "expired 3 days ago" in text and "expires in 5 days" in text
        assert "expires 3 days ago" not in text


def test_the_expiry_formatter():
    now = utcnow()
    assert expiry(now - timedelta(days=3, hours=1), now) == "expired 3 days ago"
    assert expiry(now + timedelta(hours=5, minutes=1), now) == "expires in 5 hours"
    assert expiry(now, now) == "expired less than a minute ago"
    assert expiry(None, now) == "expiry not tracked"
