"""The load balancer page (members and health, records pointing at it, apps behind it) and what the instance page
says depends on an instance."""
from __future__ import annotations

import re

import pytest

from tests import factories as make
from tests.views.sql_statements import counting_statements


@pytest.fixture
def routed(db_session):
    cluster = make.cluster(db_session, "eu-prod")
    node_1 = make.instance(db_session, "deis-eu-1", role="deis", cluster=cluster, public_ip="203.0.113.11")
    node_2 = make.instance(db_session, "deis-eu-2", role="deis", cluster=cluster)
    balancer = make.load_balancer(db_session, "eu-prod-alb", cluster=cluster)
    make.member(db_session, balancer, node_1, health="healthy")
    make.member(db_session, balancer, node_2, health="unhealthy")
    shop = make.app(db_session, "shop", cluster)
    make.app(db_session, "blog", cluster)
    make.domain(db_session, shop, "shop.example.com")
    zone = make.zone(db_session, "example.com")
    make.record(db_session, zone, "shop.example.com", "CNAME", balancer.dns_name, load_balancer=balancer, app=shop)
    make.record(db_session, zone, "deis-eu-1.example.com", "A", "203.0.113.11", instance=node_1)
    pg = make.instance(db_session, "pg-eu-1", role="postgres", db_role="primary", cluster=cluster)
    make.record(db_session, zone, "pg.eu-prod.example.com", "A", pg.private_ip, instance=pg)
    make.database(db_session, shop, "shop_db", host="pg.eu-prod.example.com")
    replica = make.instance(db_session, "pg-eu-2", role="postgres", db_role="replica", cluster=cluster)
    make.app(db_session, "legacy", cluster, config_values={
        "DATABASE_URL": "postgres://legacy:s3cret-legacy@pg.eu-prod.example.com:5432/legacy"})
    make.app(db_session, "elsewhere", cluster, config_values={
        "DATABASE_URL": "postgres://x:y@pg.eu-prod.example.com.evil.test/other"})  # a longer host is not this one
    db_session.commit()
    return {"cluster": cluster, "balancer": balancer, "node_1": node_1, "node_2": node_2, "shop": shop,
            "zone": zone, "pg": pg, "replica": replica}


def section(html: str, name: str) -> str:
    start = html.index(f'id="{name}"')
    return html[start:html.index("</section>", start)]


def test_load_balancer_page_shows_members_records_and_apps(client, login_as, routed):
    login_as("viewer")
    response = client.get(f"/load-balancers/{routed['balancer'].id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<h2>eu-prod-alb</h2>" in html
    members = section(html, "members")
    assert f'href="/instances/{routed["node_1"].id}">deis-eu-1</a>' in members
    assert 'badge ok">healthy' in members and 'badge warn">unhealthy' in members
    assert "1 not healthy" in section(html, "facts")
    records = section(html, "records")
    assert "shop.example.com" in records and f'href="/dns/zones/{routed["zone"].id}">example.com</a>' in records
    apps = section(html, "apps")
    assert f'href="/clusters/{routed["cluster"].id}">eu-prod</a>' in apps
    assert re.findall(r'<li><a href="/apps/\d+">([^<]+)</a></li>', apps) == ["blog", "elsewhere", "legacy", "shop"]
    assert f'Reached through the records above: <a href="/apps/{routed["shop"].id}">shop</a>' in apps


def test_the_app_page_and_dns_links_lead_to_the_load_balancer(client, login_as, routed):
    login_as("viewer")
    link = f'href="/load-balancers/{routed["balancer"].id}"'
    assert link in client.get(f"/apps/{routed['shop'].id}").get_data(as_text=True)
    assert link in client.get(f"/dns/zones/{routed['zone'].id}").get_data(as_text=True)
    assert link in client.get("/instances/").get_data(as_text=True)


def test_instance_page_lists_what_depends_on_it(client, login_as, routed):
    login_as("viewer")
    html = client.get(f"/instances/{routed['node_1'].id}").get_data(as_text=True)
    depends = section(html, "depends")
    assert "The 4 apps of" in depends and f'href="/clusters/{routed["cluster"].id}">eu-prod</a>' in depends
    assert re.findall(r'<a href="/apps/\d+">([^<]+)</a>', depends)[:4] == ["blog", "elsewhere", "legacy", "shop"]
    dns = section(html, "dns")
    assert "DNS records reaching it" in dns and '<span class="badge">2</span>' in dns
    direct = dns[dns.index("Pointing at its addresses"):dns.index("Through its load balancers")]
    assert "deis-eu-1.example.com" in direct
    through = dns[dns.index("Through its load balancers"):]
    assert "shop.example.com" in through and f'href="/load-balancers/{routed["balancer"].id}"' in through


def test_a_postgresql_instance_shows_its_role_and_databases(client, login_as, routed):
    login_as("viewer")
    page = client.get(f"/instances/{routed['pg'].id}").get_data(as_text=True)
    assert "2 app databases on this server" in section(page, "depends") and "No app reaches it" not in page
    primary = section(page, "databases")
    assert "Role: <strong>primary</strong>" in primary and "shop_db" in primary
    assert f'app <a href="/apps/{routed["shop"].id}">shop</a>' in primary
    hand_set = primary[primary.index('id="hand-set-databases"'):]
    assert "not managed by the panel" in hand_set and "1 app reach" in hand_set
    assert ">legacy</a>" in hand_set and "elsewhere" not in hand_set and "shop" not in hand_set
    assert "s3cret-legacy" not in primary
    replica = section(client.get(f"/instances/{routed['replica'].id}").get_data(as_text=True), "databases")
    assert "Role: <strong>replica</strong>" in replica and "apps connect to the primary" in replica
    node = client.get(f"/instances/{routed['node_1'].id}").get_data(as_text=True)
    assert 'id="databases"' not in node  # not a database server


def test_unknown_load_balancer_is_a_404(client, login_as):
    login_as("viewer")
    assert client.get("/load-balancers/99999").status_code == 404


def _add_routed_apps(session, routed, count: int, start: int) -> None:
    zone = routed["zone"]
    for number in range(start, start + count):
        app = make.app(session, f"bulk-{number:04d}", routed["cluster"])
        make.record(session, zone, f"bulk-{number:04d}.example.com", "CNAME", routed["balancer"].dns_name,
                    load_balancer=routed["balancer"], app=app)
    session.commit()


def test_pages_stay_at_a_fixed_number_of_queries_and_page_long_lists(client, login_as, routed, db_session):
    login_as("viewer")
    pages = [f"/load-balancers/{routed['balancer'].id}", f"/instances/{routed['node_1'].id}",
             f"/clusters/{routed['cluster'].id}"]
    few = {}
    for url in pages:
        with counting_statements() as statements:
            assert client.get(url).status_code == 200
        few[url] = len(statements)
    _add_routed_apps(db_session, routed, 130, 0)
    for url in pages:
        with counting_statements() as statements:
            assert client.get(url).status_code == 200
        assert len(statements) <= few[url] + 1, (url, statements)  # + one count once a list is full
    balancer = client.get(pages[0]).get_data(as_text=True)
    assert "records 1–100 of 131" in balancer and "?records=2#records" in balancer
    assert "1–50 of 134 apps" in balancer
    assert "records 101–131 of 131" in client.get(f"{pages[0]}?records=2").get_data(as_text=True)
    node = client.get(pages[1]).get_data(as_text=True)
    assert "The first 50 of 131: each load balancer" in node and "and <a href=" in node
