"""The global search: grouped suggestions as you type, and the full results page."""
from __future__ import annotations

import re

import pytest

from tests import factories as make


@pytest.fixture
def platform(db_session):
    cluster = make.cluster(db_session, "prod-eu")
    shop = make.app(db_session, "shop", cluster, owner="alice")
    make.app(db_session, "shopping-cart", cluster)
    blog = make.app(db_session, "blog", cluster, config_values={"API_TOKEN": "shop-secret-token"})
    make.domain(db_session, blog, "shopblog.example.com")
    node = make.instance(db_session, "deis-eu-1", aws_id="i-0abc1234def567890", private_ip="10.1.0.11",
                         public_ip="203.0.113.11")
    zone = make.zone(db_session, "example.com")
    make.record(db_session, zone, "shop.example.com", "A", "203.0.113.11", instance=node)
    make.record(db_session, zone, "mail.example.com", "A", "198.51.100.25")
    make.record(db_session, zone, "example.com", "TXT", "203.0.113.11 is not an address record")
    db_session.commit()
    return {"shop": shop, "blog": blog, "node": node, "zone": zone}


def group(html: str, title: str) -> list[str]:
    """The link texts under one group heading of the suggestions."""
    match = re.search(rf"<strong>{re.escape(title)}</strong>.*?<ul>(.*?)</ul>", html, re.S)
    return re.findall(r'<a href="[^"]+" role="option">([^<]+)</a>', match.group(1)) if match else []


def suggest(client, query: str) -> str:
    response = client.get("/search", query_string={"q": query}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_suggestions_are_grouped_and_link_to_their_pages(client, login_as, platform):
    login_as("viewer")
    html = suggest(client, "shop")
    assert "<html" not in html
    assert group(html, "Applications") == ["shop", "shopping-cart"]
    assert group(html, "Domains") == ["shopblog.example.com"]
    assert group(html, "DNS records") == ["shop.example.com"]
    assert f'href="/apps/{platform["shop"].id}"' in html
    assert f'href="/apps/{platform["blog"].id}" role="option">shopblog.example.com' in html  # domain → its app
    assert "shop-secret-token" not in html
    assert 'href="/search?q=shop"' in html  # Enter goes to the full page


def test_ips_instance_ids_and_names(client, login_as, platform):
    login_as("viewer")
    node_link = f'href="/instances/{platform["node"].id}"'
    by_ip = suggest(client, "203.0.113.11")
    assert group(by_ip, "IP addresses: instances") == ["10.1.0.11 / 203.0.113.11"] and node_link in by_ip
    assert group(by_ip, "IP addresses: DNS records") == ["203.0.113.11"]  # the A record, not the TXT one
    assert f'/dns/zones/{platform["zone"].id}?q=203.0.113.11' in by_ip
    by_id = suggest(client, "i-0abc1234")
    assert group(by_id, "Instances") == ["deis-eu-1"] and node_link in by_id
    assert group(suggest(client, "DEIS-EU"), "Instances") == ["deis-eu-1"]
    assert group(suggest(client, "198.51.100"), "IP addresses: DNS records") == ["198.51.100.25"]


def test_each_group_shows_at_most_eight_and_says_how_many_matched(client, login_as, db_session):
    cluster = make.cluster(db_session, "prod-eu")
    for number in range(12):
        make.app(db_session, f"api-{number:02d}", cluster)
    db_session.commit()
    login_as("viewer")
    html = suggest(client, "api-")
    assert len(group(html, "Applications")) == 8 and "12 in all" in html
    full = client.get("/search?q=api-").get_data(as_text=True)
    assert "<html" in full and len(re.findall(r'href="/apps/\d+"', full)) == 12 and "12 matches" in full


def test_short_or_unmatched_queries(client, login_as, platform):
    login_as("viewer")
    assert suggest(client, "s").strip() == ""  # one letter: no dropdown at all
    assert "Nothing matches “zzz”." in suggest(client, "zzz")
    page = client.get("/search?q=s").get_data(as_text=True)
    assert "Type at least 2 characters" in page
    assert "Nothing matches “qqq”." in client.get("/search?q=qqq").get_data(as_text=True)


def test_full_results_page_lists_every_group_with_links(client, login_as, platform):
    login_as("viewer")
    html = client.get("/search?q=shop").get_data(as_text=True)
    for key in ("apps", "domains", "dns_records"):
        assert f'id="results-{key}"' in html
    assert 'id="results-instances"' not in html  # empty groups are left out
    assert f'href="/apps/{platform["shop"].id}">shop</a>' in html


def test_search_box_is_in_the_navigation_of_signed_in_pages(client, login_as, platform):
    assert 'aria-label="Search the platform"' not in client.get("/login").get_data(as_text=True)
    login_as("viewer")
    html = client.get("/").get_data(as_text=True)
    box = re.search(r'<input type="search" name="q"[^>]*aria-label="Search the platform"[^>]*>', html, re.S).group(0)
    assert 'hx-get="/search"' in box and 'hx-trigger="input changed delay:300ms"' in box
    assert 'hx-target="#search-suggestions"' in box
    assert client.get("/search?q=shop", follow_redirects=False).status_code == 200


def test_search_needs_signing_in(client, platform):
    response = client.get("/search?q=shop")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
