"""The applications list and the page of one app, as an operator sees them."""
from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest

from app.audit import record as audit_record
from app.models import utcnow
from tests import factories as make
from tests.views.sql_statements import counting_statements

SECRETS = {
    "DATABASE_URL": "postgres://shop:hunter2-db-password@pg.prod-eu.test/shop",
    "STRIPE_API_KEY": "sk_live_51SeCrEtStRiPeKeY",
    "SESSION_SECRET": "cookie-signing-s3cret-value",
    "SENTRY_URL": "https://abc:sentry-pw-9911@sentry.example.com/4",
    "UPSTREAM": "amqp://guest:rabbit-pass-77@mq.internal:5672/",  # an innocent key, but credentials in the URL
}


def rows_of(html: str, table_id: str = "app-results") -> list[str]:
    """The app names in the results table, in order."""
    section = html[html.index(f'id="{table_id}"'):]
    return re.findall(r'<td><a href="/apps/\d+">([^<]+)</a></td>', section)


@pytest.fixture
def platform(db_session):
    """Two clusters in two regions, four apps of different shapes."""
    eu = make.region(db_session, "europe", "eu-west-1")
    us = make.region(db_session, "america", "us-east-1", timezone="America/New_York")
    prod_eu = make.cluster(db_session, "prod-eu", eu)
    prod_us = make.cluster(db_session, "prod-us", us)
    shop = make.app(db_session, "shop", prod_eu, owner="alice", app_type="web", monitoring_enabled=True,
                    limit_drift=True)
    make.domain(db_session, shop, "shop.example.com")
    make.database(db_session, shop, "shop_db")
    blog = make.app(db_session, "blog", prod_us, owner="bob", app_type="web")
    make.domain(db_session, blog, "www.myblog.org")
    worker = make.app(db_session, "mailer", prod_eu, owner="carol", app_type="worker")
    api = make.app(db_session, "api", prod_us, owner="alice", app_type="api", monitoring_enabled=True)
    db_session.commit()
    return {"shop": shop, "blog": blog, "mailer": worker, "api": api}


def test_list_shows_every_app_with_cluster_owner_type_and_domain(client, login_as, platform):
    login_as("viewer")
    response = client.get("/apps/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert rows_of(html) == ["api", "blog", "mailer", "shop"]
    shop_row = html[html.index(">shop</a>"):].split("</tr>")[0]
    assert "prod-eu" in shop_row and "europe" in shop_row and "alice" in shop_row and "web" in shop_row
    assert "shop.example.com" in shop_row and "drift" in shop_row and 'badge ok">on' in shop_row
    assert "1–4 of 4 apps" in html


SEARCHES = [
    ("shop", ["shop"]),            # app name
    ("MYBLOG", ["blog"]),          # domain name, case-insensitive
    ("alice", ["api", "shop"]),    # owner
    ("a%", []),                    # LIKE wildcards are literal characters
    ("nothing-like-it", []),
]
FILTERS = [
    ({"cluster": "prod-us"}, ["api", "blog"]),
    ({"type": "worker"}, ["mailer"]),
    ({"monitoring": "yes"}, ["api", "shop"]),
    ({"monitoring": "no"}, ["blog", "mailer"]),
    ({"database": "yes"}, ["shop"]),
    ({"database": "no"}, ["api", "blog", "mailer"]),
    ({"drift": "yes"}, ["shop"]),
    ({"drift": "no"}, ["api", "blog", "mailer"]),
    ({"cluster": "prod-eu", "monitoring": "yes", "q": "sh"}, ["shop"]),
]
SORTS = [
    ({"sort": "name", "dir": "desc"}, ["shop", "mailer", "blog", "api"]),
    ({"sort": "cluster", "dir": "asc"}, ["mailer", "shop", "api", "blog"]),
    ({"sort": "cluster", "dir": "desc"}, ["api", "blog", "mailer", "shop"]),  # ties stay in name order
    ({"sort": "owner", "dir": "desc"}, ["mailer", "blog", "api", "shop"]),
    ({"sort": "type", "dir": "asc"}, ["api", "blog", "shop", "mailer"]),
]


def test_search_matches_app_name_domain_and_owner(client, login_as, platform):
    login_as("viewer")
    for query, expected in SEARCHES:
        html = client.get("/apps/", query_string={"q": query}).get_data(as_text=True)
        assert rows_of(html) == expected, query
        if not expected:
            assert "No application matches these filters." in html


def test_filters_narrow_the_list(client, login_as, platform):
    login_as("viewer")
    for filters, expected in FILTERS:
        assert rows_of(client.get("/apps/", query_string=filters).get_data(as_text=True)) == expected, filters


def test_sorting(client, login_as, platform):
    login_as("viewer")
    for sort, expected in SORTS:
        assert rows_of(client.get("/apps/", query_string=sort).get_data(as_text=True)) == expected, sort


def test_sorting_by_sync_time(client, login_as, platform, db_session):
    platform["blog"].synced_at = utcnow() - timedelta(hours=5)
    platform["api"].synced_at = utcnow() + timedelta(minutes=1)
    db_session.commit()
    login_as("viewer")
    html = client.get("/apps/?sort=synced_at&dir=asc").get_data(as_text=True)
    names = rows_of(html)
    assert names[0] == "blog" and names[-1] == "api"


def test_sort_links_keep_the_filters(client, login_as, platform):
    login_as("viewer")
    html = client.get("/apps/?cluster=prod-eu&q=s").get_data(as_text=True)
    owner_link = re.search(r'<a href="([^"]+)"[^>]*>Owner', html).group(1).replace("&amp;", "&")
    assert "cluster=prod-eu" in owner_link and "q=s" in owner_link and "sort=owner" in owner_link


def test_live_search_answers_htmx_with_the_results_block_only(client, login_as, platform):
    login_as("viewer")
    html = client.get("/apps/?q=blog", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert html.lstrip().startswith('<section id="app-results">')
    assert 'class="top"' not in html and "<html" not in html  # no page chrome, just the block
    assert rows_of(html) == ["blog"]
    restored = client.get("/apps/?q=blog", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restored.get_data(as_text=True)


def test_search_box_is_wired_for_htmx_live_search(client, login_as, platform):
    login_as("viewer")
    html = client.get("/apps/").get_data(as_text=True)
    box = re.search(r'<input type="search" name="q"[^>]*aria-label="Search applications"[^>]*>', html, re.S).group(0)
    assert 'hx-get="/apps/"' in box and 'hx-trigger="input changed delay:300ms' in box
    assert 'hx-target="#app-results"' in html


def test_list_pages_by_100(client, login_as, db_session):
    cluster = make.cluster(db_session, "prod-eu")
    for number in range(150):
        make.app(db_session, f"app-{number:03d}", cluster)
    db_session.commit()
    login_as("viewer")
    first = client.get("/apps/").get_data(as_text=True)
    second = client.get("/apps/?page=2").get_data(as_text=True)
    assert len(rows_of(first)) == 100 and rows_of(first)[0] == "app-000"
    assert rows_of(second) == [f"app-{number:03d}" for number in range(100, 150)]
    assert "101–150 of 150 apps" in second and "page 2 of 2" in second


BAD_PARAMETERS = [
    ("sort=password", "Unknown sort 'password'"),
    ("dir=sideways", "Unknown dir 'sideways'"),
    ("page=abc", "Page must be a whole number"),
    ("page=-1", "Page must be a whole number"),
    ("page=0", "Page must be a whole number"),
    ("page=99999999999999999999999", "Page must be a whole number"),
    ("page=%C2%B2", "Page must be a whole number"),  # a Unicode digit Python's int() would reject
    ("monitoring=maybe", "Filter monitoring takes 'yes' or 'no'"),
    ("cluster=atlantis", "No cluster called 'atlantis'"),
]


def test_bad_parameters_get_a_clear_page(client, login_as, platform):
    login_as("viewer")
    for query, message in BAD_PARAMETERS:
        response = client.get(f"/apps/?{query}")
        html = unescape(response.get_data(as_text=True))
        assert response.status_code == 400, query
        assert message in html and "ignored" in html, query
        assert rows_of(html) == ["api", "blog", "mailer", "shop"], query  # the list still works with defaults


def test_page_past_the_end_says_so(client, login_as, platform):
    login_as("viewer")
    response = client.get("/apps/?page=5000")
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "There is no page 5000: the last page is 1." in html and rows_of(html) == []


def test_signed_out_visitors_are_sent_to_sign_in(client, platform):
    response = client.get("/apps/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.fixture
def shop_page(db_session):
    """One app with everything the page shows: limits, config with secrets, domains, DNS, database, backups."""
    now = utcnow()
    europe = make.region(db_session, "europe", "eu-west-1")
    cluster = make.cluster(db_session, "prod-eu", europe)
    watcher = make.cluster(db_session, "monitor-us", kind="monitoring")
    cluster.monitored_from = watcher
    shop = make.app(
        db_session, "shop", cluster, owner="alice", app_type="web", structure={"web": 3, "worker": 1},
        config_values={**SECRETS, "PLATFORM": "deis", "EMPTY_TOKEN": ""},
        memory={"web": "512M", "worker": "256M"}, cpu={"web": "500m", "worker": "250m"},
        monitoring_enabled=True, health_path="/healthz",
    )
    make.limit_set(db_session, cluster, "web", memory={"web": "0.5G", "worker": "128M"}, cpu={"web": "0.5"})
    ok_cert = make.certificate(db_session, cluster, "shop.example.com", timedelta(days=200))
    soon_cert = make.certificate(db_session, cluster, "www.shop.example.com", timedelta(days=12))
    old_cert = make.certificate(db_session, cluster, "old.shop.example.com", -timedelta(days=3))
    make.domain(db_session, shop, "shop.example.com", ok_cert)
    make.domain(db_session, shop, "www.shop.example.com", soon_cert)
    make.domain(db_session, shop, "old.shop.example.com", old_cert)
    make.domain(db_session, shop, "bare.shop.example.com")
    node_a = make.instance(db_session, "deis-eu-1", private_ip="10.1.0.11", public_ip="203.0.113.11")
    node_b = make.instance(db_session, "deis-eu-2", private_ip="10.1.0.12", public_ip="203.0.113.12")
    balancer = make.load_balancer(db_session, "prod-eu-router", members=[node_a, node_b], cluster=cluster)
    zone = make.zone(db_session, "example.com")
    make.record(db_session, zone, "shop.example.com", "CNAME", balancer.dns_name, load_balancer=balancer)
    make.record(db_session, zone, "www.shop.example.com", "A", "203.0.113.11", instance=node_a)
    make.record(db_session, zone, "old.shop.example.com", "A", "198.51.100.99", dangling=True)
    make.record(db_session, zone, "legacy-shop.example.com", "CNAME", "shop.example.com", app=shop)
    make.record(db_session, zone, "unrelated.example.com", "A", "198.51.100.7")
    database = make.database(db_session, shop, "shop_production", host="pg-primary.prod-eu.internal")
    for hours in range(12):
        make.backup(db_session, database, started_at=now - timedelta(hours=hours + 1), size_bytes=1000 * (hours + 1))
    for number in range(25):
        event = audit_record(db_session, actor="admin", action=f"app.change-{number:02d}", target=shop)
        event.at = now - timedelta(minutes=100 - number)
    audit_record(db_session, actor="admin", action="app.other-app", target="blog")
    db_session.commit()
    return shop


def test_app_page_shows_cluster_region_owner_type_structure_and_monitoring(client, login_as, shop_page):
    login_as("viewer")
    response = client.get(f"/apps/{shop_page.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<h2>shop</h2>" in html and "prod-eu" in html and "europe" in html and "eu-west-1" in html
    assert "alice" in html and "monitor-us" in html
    assert "web × 3" in html and "worker × 1" in html
    monitoring = html[html.index('id="monitoring"'):html.index('id="domains"')]
    assert "enabled" in monitoring and "/healthz" in monitoring


def test_app_page_masks_secrets_and_never_sends_them(client, login_as, shop_page):
    login_as("admin")
    html = client.get(f"/apps/{shop_page.id}").get_data(as_text=True)
    for secret in SECRETS.values():
        assert secret not in html
    for fragment in ("hunter2", "sk_live", "s3cret", "sentry-pw", "rabbit-pass"):
        assert fragment not in html
    config = html[html.index('id="config"'):html.index('id="limits"')]
    for key in SECRETS:
        row = config[config.index(f"<code>{key}</code>"):].split("</tr>")[0]
        assert "••••••" in row
    assert "<code>deis</code>" in config  # a plain value is shown as is
    assert "(empty)" in config  # an empty secret has nothing to hide


def test_app_page_highlights_limits_that_differ_from_the_limit_set(client, login_as, shop_page):
    login_as("viewer")
    html = client.get(f"/apps/{shop_page.id}").get_data(as_text=True)
    limits = html[html.index('id="limits"'):html.index('id="database"')]
    assert "differs from limit set" in limits
    web = limits[limits.index("<td>web</td>"):].split("</tr>")[0]
    worker = limits[limits.index("<td>worker</td>"):].split("</tr>")[0]
    assert "<mark>" not in web  # 512M is 0.5G and 500m is 0.5: the same limits spelled differently
    assert "<mark>256M</mark>" in worker and "128M" in worker
    assert "<mark>250m</mark>" not in worker  # the limit set says nothing about worker CPU


def test_app_page_shows_domains_with_certificate_badges_and_what_serves_them(client, login_as, shop_page):
    login_as("viewer")
    html = client.get(f"/apps/{shop_page.id}").get_data(as_text=True)
    domains = html[html.index('id="domains"'):html.index('id="config"')]

    def row(name: str) -> str:
        return domains[domains.index(f"<strong>{name}</strong>"):].split("</tr>")[0]

    assert 'badge ok">ok' in row("shop.example.com")
    assert "prod-eu-router" in row("shop.example.com")  # CNAME to the cluster's load balancer...
    assert "deis-eu-1" in row("shop.example.com") and "deis-eu-2" in row("shop.example.com")  # ...and its members
    assert "10.1.0.12" in row("shop.example.com")
    assert 'badge warn">expires in 11 days' in row("www.shop.example.com")
    assert "deis-eu-1" in row("www.shop.example.com") and "203.0.113.11" in row("www.shop.example.com")
    assert 'badge bad">expired 3 days ago' in row("old.shop.example.com")
    assert "points at nothing we know" in row("old.shop.example.com")
    assert "no certificate" in row("bare.shop.example.com") and "no DNS record" in row("bare.shop.example.com")
    assert "legacy-shop.example.com" in domains  # tied to the app by the sync, though not one of its domains
    assert "unrelated.example.com" not in html


def test_app_page_shows_database_latest_backups_and_latest_audit_events(client, login_as, shop_page):
    login_as("viewer")
    html = client.get(f"/apps/{shop_page.id}").get_data(as_text=True)
    database = html[html.index('id="database"'):html.index('id="backups"')]
    assert "shop_production" in database and "pg-primary.prod-eu.internal" in database
    backups = html[html.index('id="backups"'):html.index('id="history"')]
    assert backups.count("<tr><td") == 10 and "The latest 10 of 12 backups." in backups
    assert "1000 Bytes" in backups and "10.7 KiB" not in backups  # newest first; the two oldest are left out
    history = html[html.index('id="history"'):]
    assert history.count("app.change-") == 20
    assert "app.change-24" in history and "app.change-05" in history and "app.change-04" not in history
    assert history.index("app.change-24") < history.index("app.change-23")
    assert "app.other-app" not in history


def test_app_page_empty_states(client, login_as, db_session):
    lonely = make.app(db_session, "lonely", config_values={}, memory={}, cpu={}, structure={})
    db_session.commit()
    login_as("viewer")
    html = client.get(f"/apps/{lonely.id}").get_data(as_text=True)
    assert "No database: DATABASE_URL is not set" in html and "No backups: the app has no database." in html
    assert "No domains" in html and "No config values set." in html and "No limit set for type web" in html
    assert "Nothing changed through the panel yet." in html and "disabled" in html


def test_app_page_with_a_database_but_no_backup_yet(client, login_as, db_session):
    shop = make.app(db_session, "shop")
    make.database(db_session, shop, "shop_db", state="pending")
    db_session.commit()
    login_as("viewer")
    html = client.get(f"/apps/{shop.id}").get_data(as_text=True)
    assert "shop_db" in html and "pending" in html and "No backups of shop_db yet." in html


def test_unknown_app_is_a_clear_404(client, login_as):
    login_as("viewer")
    response = client.get("/apps/424242")
    assert response.status_code == 404 and "There is nothing at this address." in response.get_data(as_text=True)


def _add_apps(session, cluster, count: int, start: int) -> None:
    for number in range(start, start + count):
        app = make.app(session, f"app-{number:04d}", cluster, monitoring_enabled=number % 2 == 0)
        make.domain(session, app, f"app-{number:04d}.example.com")
        if number % 3 == 0:
            make.database(session, app, f"db_{number}")
    session.commit()


def test_list_query_count_does_not_grow_with_apps(client, login_as, db_session):
    cluster = make.cluster(db_session, "prod-eu")
    _add_apps(db_session, cluster, 50, 0)
    login_as("viewer")
    with counting_statements() as with_50:
        assert client.get("/apps/?sort=cluster").status_code == 200
    _add_apps(db_session, make.cluster(db_session, "prod-us"), 450, 50)
    with counting_statements() as with_500:
        html = client.get("/apps/?sort=cluster").get_data(as_text=True)
    assert len(rows_of(html)) == 100
    assert len(with_500) == len(with_50), with_500


def test_app_page_query_count_does_not_grow_with_domains_records_or_apps(client, login_as, db_session):
    cluster = make.cluster(db_session, "prod-eu")
    shop = make.app(db_session, "shop", cluster)
    make.limit_set(db_session, cluster, "web", memory={"web": "1G"})
    zone = make.zone(db_session, "example.com")
    database = make.database(db_session, shop, "shop_db")
    make.backup(db_session, database)
    _add_apps(db_session, cluster, 50, 0)

    def add_domains(count: int, start: int) -> None:
        for number in range(start, start + count):
            certificate = make.certificate(db_session, cluster, f"d{number}.example.com")
            make.domain(db_session, shop, f"d{number}.example.com", certificate)
            nodes = [make.instance(db_session) for _ in range(2)]
            balancer = make.load_balancer(db_session, members=nodes)
            make.record(db_session, zone, f"d{number}.example.com", "CNAME", balancer.dns_name,
                        load_balancer=balancer)
            make.record(db_session, zone, f"d{number}.example.com", "A", nodes[0].private_ip, instance=nodes[0])
        db_session.commit()

    add_domains(2, 0)
    login_as("viewer")
    with counting_statements() as few:
        assert client.get(f"/apps/{shop.id}").status_code == 200
    add_domains(40, 2)
    _add_apps(db_session, cluster, 450, 50)
    with counting_statements() as many:
        html = client.get(f"/apps/{shop.id}").get_data(as_text=True)
    assert html.count("<strong>d") == 42
    assert len(many) == len(few), many


def test_home_page_links_drifting_apps_to_their_page(client, login_as, platform):
    login_as("viewer")
    html = client.get("/").get_data(as_text=True)
    drift = html[html.index('id="panel-limits"'):]
    assert f'<a href="/apps/{platform["shop"].id}">shop</a>' in drift


def test_list_names_a_real_host_first_and_says_when_no_limit_set_applies(client, login_as, db_session):
    login_as("viewer")
    cluster = make.cluster(db_session, "prod-x", make.region(db_session, "x", "eu-west-1"))
    with_set = make.app(db_session, "alpha", cluster, app_type="web")
    make.domain(db_session, with_set, "alpha")  # the domain Deis makes from the app id
    make.domain(db_session, with_set, "www.alpha.example")
    make.app(db_session, "beta", cluster, app_type="worker")
    make.limit_set(db_session, cluster, "web", memory={"web": "256M"})
    db_session.commit()
    html = client.get("/apps/").get_data(as_text=True)
    alpha_row = html[html.index(">alpha</a>"):html.index(">beta</a>")]
    beta_row = html[html.index(">beta</a>"):]
    assert "www.alpha.example" in alpha_row and 'badge ok">match' in alpha_row
    assert "no set" in beta_row and "match" not in beta_row.split("</tr>")[0]
