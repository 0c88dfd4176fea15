"""The instances list and the page of one instance."""
from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest

from tests import factories as make
from tests.views.sql_statements import counting_statements


def names_of(html: str) -> list[str]:
    """The instance names in the results table, in order."""
    section = html[html.index('id="instance-results"'):]
    return re.findall(r'<td><a href="/instances/\d+">([^<]+)</a>', section)


def row_of(html: str, name: str) -> str:
    return html[html.index(f">{name}</a>"):].split("</tr>")[0]


@pytest.fixture
def fleet(db_session):
    """Deis nodes behind a load balancer, a PostgreSQL pair, a chef server without DNS, a stopped box in the US."""
    prod_eu = make.cluster(db_session, "prod-eu")
    prod_us = make.cluster(db_session, "prod-us")
    deis_1 = make.instance(db_session, "deis-eu-1", role="deis", cluster=prod_eu, private_ip="10.1.0.11",
                           public_ip="203.0.113.11", aws_id="i-0aaa000000000001")
    deis_2 = make.instance(db_session, "deis-eu-2", role="deis", cluster=prod_eu, private_ip="10.1.0.12",
                           aws_id="i-0aaa000000000002")
    pg_1 = make.instance(db_session, "pg-eu-1", role="postgres", db_role="primary", cluster=prod_eu,
                         private_ip="10.1.1.21", aws_id="i-0bbb000000000001")
    pg_2 = make.instance(db_session, "pg-eu-2", role="postgres", db_role="replica", cluster=prod_eu,
                         private_ip="10.1.1.22", aws_id="i-0bbb000000000002")
    chef = make.instance(db_session, "chef", role="chef", private_ip="10.1.2.5", aws_id="i-0ccc000000000001")
    make.instance(db_session, "deis-us-1", role="deis", cluster=prod_us, aws_region="us-east-1", state="stopped",
                  private_ip="10.2.0.11", aws_id="i-0ddd000000000001")
    make.load_balancer(db_session, "prod-eu-router", members=[deis_1, deis_2], cluster=prod_eu)
    make.load_balancer(db_session, "prod-eu-internal", members=[deis_1])
    zone = make.zone(db_session, "example.com")
    make.record(db_session, zone, "deis-eu-1.example.com", "A", "203.0.113.11", instance=deis_1)
    make.record(db_session, zone, "deis-eu-1.int.example.com", "A", "10.1.0.11", instance=deis_1)
    make.record(db_session, zone, "deis-eu-2.example.com", "A", "10.1.0.12", instance=deis_2)
    make.record(db_session, zone, "pg-primary.prod-eu.example.com", "A", "10.1.1.21", instance=pg_1)
    make.record(db_session, zone, "pg-2.prod-eu.example.com", "A", "10.1.1.22", instance=pg_2)
    make.maintenance_event(db_session, pg_2, "system-reboot", timedelta(days=2), description="Scheduled reboot")
    make.maintenance_event(db_session, deis_2, "instance-stop", -timedelta(days=30), completed=True,
                           description="Old retirement, done")
    shop = make.app(db_session, "shop", prod_eu)
    make.database(db_session, shop, "shop_db", host="pg-primary.prod-eu.example.com")
    db_session.commit()
    return {"deis_1": deis_1, "pg_1": pg_1, "pg_2": pg_2, "chef": chef, "deis_2": deis_2}


def test_list_shows_region_role_cluster_ips_state_load_balancers_dns_and_maintenance(client, login_as, fleet):
    login_as("viewer")
    response = client.get("/instances/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert names_of(html) == ["chef", "deis-eu-1", "deis-eu-2", "deis-us-1", "pg-eu-1", "pg-eu-2"]
    deis_1 = row_of(html, "deis-eu-1")
    assert "eu-west-1" in deis_1 and "prod-eu" in deis_1 and "10.1.0.11" in deis_1 and "203.0.113.11" in deis_1
    assert re.search(r'>prod-eu-internal</a>, <a href="/load-balancers/\d+">prod-eu-router</a>', deis_1)
    assert "2 records" in deis_1 and "running" in deis_1
    assert 'badge ok">primary' in row_of(html, "pg-eu-1") and ">replica</span>" in row_of(html, "pg-eu-2")
    assert "system-reboot" in row_of(html, "pg-eu-2")
    assert "instance-stop" not in html  # completed events are history, not something to act on
    assert "no DNS record" in row_of(html, "chef") and "no DNS record" not in row_of(html, "pg-eu-2")
    assert "us-east-1" in row_of(html, "deis-us-1") and "stopped" in row_of(html, "deis-us-1")


FILTERS = [
    ({"region": "us-east-1"}, ["deis-us-1"]),
    ({"role": "postgres"}, ["pg-eu-1", "pg-eu-2"]),
    ({"cluster": "prod-us"}, ["deis-us-1"]),
    ({"state": "stopped"}, ["deis-us-1"]),
    ({"dns": "no"}, ["chef", "deis-us-1"]),
    ({"dns": "yes", "role": "deis"}, ["deis-eu-1", "deis-eu-2"]),
    ({"maintenance": "yes"}, ["pg-eu-2"]),
    ({"q": "10.1.1."}, ["pg-eu-1", "pg-eu-2"]),       # private IP
    ({"q": "203.0.113.11"}, ["deis-eu-1"]),           # public IP
    ({"q": "i-0ccc"}, ["chef"]),                      # AWS instance id
    ({"q": "PG-EU"}, ["pg-eu-1", "pg-eu-2"]),         # name, case-insensitive
    ({"sort": "role", "dir": "desc", "cluster": "prod-eu"}, ["pg-eu-1", "pg-eu-2", "deis-eu-1", "deis-eu-2"]),
]


def test_filters_search_and_sort(client, login_as, fleet):
    login_as("viewer")
    for filters, expected in FILTERS:
        assert names_of(client.get("/instances/", query_string=filters).get_data(as_text=True)) == expected, filters


def test_live_search_answers_htmx_with_the_results_block_only(client, login_as, fleet):
    login_as("viewer")
    html = client.get("/instances/?q=chef", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert html.lstrip().startswith('<section id="instance-results">') and "<html" not in html
    assert names_of(html) == ["chef"]


def test_bad_parameters_get_a_clear_page(client, login_as, fleet):
    login_as("viewer")
    for query, message in [("role=wizard", "No role called 'wizard'"), ("sort=cost", "Unknown sort 'cost'"),
                           ("page=two", "Page must be a whole number"), ("dns=perhaps", "Filter dns takes")]:
        response = client.get(f"/instances/?{query}")
        assert response.status_code == 400, query
        assert message in unescape(response.get_data(as_text=True)), query
    response = client.get("/instances/?page=77")
    assert response.status_code == 404 and "There is no page 77" in response.get_data(as_text=True)


def test_instance_page_shows_everything_about_it(client, login_as, fleet):
    login_as("viewer")
    html = client.get(f"/instances/{fleet['pg_2'].id}").get_data(as_text=True)
    assert "<h2>pg-eu-2</h2>" in html and "i-0bbb000000000002" in html and "PostgreSQL replica" in html
    assert "10.1.1.22" in html and "prod-eu" in html
    maintenance = html[html.index('id="maintenance"'):html.index('id="load-balancers"')]
    assert "1 scheduled" in maintenance and "system-reboot" in maintenance and "Scheduled reboot" in maintenance
    assert "Not a member of any load balancer." in html
    assert "pg-2.prod-eu.example.com" in html[html.index('id="dns"'):]

    primary = client.get(f"/instances/{fleet['pg_1'].id}").get_data(as_text=True)
    assert "PostgreSQL primary" in primary and "shop_db" in primary  # reached through its DNS name

    node = client.get(f"/instances/{fleet['deis_1'].id}").get_data(as_text=True)
    assert "prod-eu-router" in node and "prod-eu-internal" in node
    assert "deis-eu-1.int.example.com" in node and "No maintenance events" in node

    done = client.get(f"/instances/{fleet['deis_2'].id}").get_data(as_text=True)
    assert "instance-stop" in done and "completed" in done  # the page keeps the history

    chef = client.get(f"/instances/{fleet['chef'].id}").get_data(as_text=True)
    assert "no DNS record" in chef

    home = client.get("/").get_data(as_text=True)
    assert f'href="/instances/{fleet["pg_2"].id}">pg-eu-2</a>' in home  # the maintenance panel links here


def test_unknown_instance_is_a_404(client, login_as):
    login_as("viewer")
    assert client.get("/instances/99999").status_code == 404


def _add_instances(session, count: int, start: int) -> None:
    cluster = make.cluster(session)
    balancer = make.load_balancer(session)
    zone = make.zone(session)
    for number in range(start, start + count):
        node = make.instance(session, f"bulk-{number:04d}", cluster=cluster)
        make.member(session, balancer, node)
        make.record(session, zone, f"bulk-{number:04d}.example.com", "A", node.private_ip, instance=node)
        if number % 4 == 0:
            make.maintenance_event(session, node)
    session.commit()


def test_list_query_count_does_not_grow_with_instances(client, login_as, db_session):
    _add_instances(db_session, 30, 0)
    login_as("viewer")
    with counting_statements() as few:
        assert client.get("/instances/").status_code == 200
    _add_instances(db_session, 200, 30)
    with counting_statements() as many:
        html = client.get("/instances/").get_data(as_text=True)
    assert len(names_of(html)) == 100 and "system-reboot" in html
    assert len(many) == len(few), many
