"""The cluster page: its apps a page at a time, instances, load balancer, limit sets, database server, monitors."""
from __future__ import annotations

import re

import pytest

from tests import factories as make
from tests.views.sql_statements import counting_statements


@pytest.fixture
def platform(db_session):
    europe = make.region(db_session, "europe")
    america = make.region(db_session, "america", aws_region="us-east-1")
    us_mon = make.cluster(db_session, "us-mon", america, kind="monitoring")
    eu_mon = make.cluster(db_session, "eu-mon", europe, kind="monitoring")
    eu_prod = make.cluster(db_session, "eu-prod", europe, monitored_from=us_mon, load_balancer_name="eu-prod-alb")
    node = make.instance(db_session, "deis-eu-1", role="deis", cluster=eu_prod)
    make.instance(db_session, "pg-eu-1", role="postgres", db_role="primary", cluster=eu_prod)
    balancer = make.load_balancer(db_session, "eu-prod-alb", members=[node])  # related by its name in settings
    shop = make.app(db_session, "shop", eu_prod, app_type="web", monitoring_enabled=True)
    make.app(db_session, "worker", eu_prod, app_type="worker")
    make.app(db_session, "cron", eu_prod, app_type="worker")
    make.limit_set(db_session, eu_prod, "web", memory={"web": "512M"})
    make.database(db_session, shop, "shop_db")
    db_session.commit()
    return {"eu_prod": eu_prod, "us_mon": us_mon, "eu_mon": eu_mon, "balancer": balancer, "node": node,
            "shop": shop}


def section(html: str, name: str) -> str:
    start = html.index(f'id="{name}"')
    return html[start:html.index("</section>", start)]


def test_cluster_page_shows_everything_about_the_cluster(client, login_as, platform):
    login_as("viewer")
    response = client.get(f"/clusters/{platform['eu_prod'].id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<h2>eu-prod" in html
    apps = section(html, "apps")
    assert re.findall(r'<td><a href="/apps/\d+">([^<]+)</a>', apps) == ["cron", "shop", "worker"]
    assert f'href="/load-balancers/{platform["balancer"].id}">eu-prod-alb</a>' in section(html, "load-balancers")
    assert f'href="/instances/{platform["node"].id}">deis-eu-1</a>' in section(html, "load-balancers")
    instances = section(html, "instances")
    assert "deis-eu-1" in instances and "pg-eu-1" in instances and "PostgreSQL primary" in instances
    limits = section(html, "limit-sets")
    assert "<strong>web</strong>" in limits and "1 app of that type" in limits
    assert "2 of 3 apps have no limit set for their type" in limits  # the two workers are not checked
    facts = section(html, "facts")
    assert "1 database of the panel" in facts and "primary <a href=\"/instances/" in facts
    assert "not known: eu-prod is not in DEIS_CLUSTERS" in facts  # the test settings name no cluster
    monitors = section(html, "monitors")
    # eu-mon watches its own region, us-mon is the outside monitor named by monitored_from.
    assert f'href="/clusters/{platform["us_mon"].id}">us-mon</a>' in monitors
    assert f'href="/clusters/{platform["eu_mon"].id}">eu-mon</a>' in monitors
    assert "check the 1 app with monitoring on; the other 2 are not checked" in monitors


def test_a_monitoring_cluster_says_what_it_watches(client, login_as, platform):
    login_as("viewer")
    html = client.get(f"/clusters/{platform['us_mon'].id}").get_data(as_text=True)
    monitors = section(html, "monitors")
    assert "As a monitor it watches" in monitors and ">eu-prod</a>" in monitors


def test_clusters_list_links_every_cluster(client, login_as, platform):
    login_as("viewer")
    html = client.get("/clusters/").get_data(as_text=True)
    for name in ("eu-prod", "us-mon", "eu-mon"):
        assert re.search(rf'<a href="/clusters/\d+">{name}</a>', html), name


def test_app_and_instance_pages_link_the_cluster(client, login_as, platform):
    login_as("viewer")
    cluster_link = f'href="/clusters/{platform["eu_prod"].id}"'
    assert cluster_link in client.get(f"/apps/{platform['shop'].id}").get_data(as_text=True)
    assert cluster_link in client.get(f"/instances/{platform['node'].id}").get_data(as_text=True)
    assert cluster_link in client.get("/apps/").get_data(as_text=True)
    assert cluster_link in client.get("/instances/").get_data(as_text=True)


def test_unknown_cluster_and_bad_page(client, login_as, platform):
    login_as("viewer")
    assert client.get("/clusters/99999").status_code == 404
    assert client.get(f"/clusters/{platform['eu_prod'].id}?page=9").status_code == 404
    bad = client.get(f"/clusters/{platform['eu_prod'].id}?page=two")
    assert bad.status_code == 400 and "Page must be a whole number" in bad.get_data(as_text=True)


def _add_apps(session, cluster, count: int, start: int) -> None:
    for number in range(start, start + count):
        make.app(session, f"bulk-{number:04d}", cluster, app_type=("web", "api")[number % 2])
    session.commit()


def test_cluster_page_is_paginated_and_its_query_count_does_not_grow(client, login_as, platform, db_session):
    login_as("viewer")
    url = f"/clusters/{platform['eu_prod'].id}"
    with counting_statements() as few:
        assert client.get(url).status_code == 200
    _add_apps(db_session, platform["eu_prod"], 120, 0)
    with counting_statements() as many:
        html = client.get(url).get_data(as_text=True)
    assert len(re.findall(r'<td><a href="/apps/\d+">', section(html, "apps"))) == 50
    assert "1–50 of 123 apps" in html and f'href="{url}?page=2"' in html
    assert len(many) == len(few), many
    last = client.get(f"{url}?page=3").get_data(as_text=True)
    assert "101–123 of 123 apps" in last
