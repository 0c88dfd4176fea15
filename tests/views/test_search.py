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


@pytest.fixture
def estate(db_session):
    """A second-level platform: clusters, owners, a load balancer, certificates, Deis default domains."""
    cluster = make.cluster(db_session, "eu-prod")
    checkout = make.app(db_session, "checkout", cluster, owner="anna.berg")
    make.domain(db_session, checkout, "checkout")  # Deis's default domain: the app id
    make.domain(db_session, checkout, "checkout.example.com")
    catalog = make.app(db_session, "catalog", cluster, owner="anna.berg")
    make.domain(db_session, catalog, "*.shops.example.com")
    make.app(db_session, "billing", make.cluster(db_session, "us-prod"), owner="ben")
    balancer = make.load_balancer(db_session, "eu-prod-alb", dns_name="eu-prod-alb-99.eu-west-1.elb.amazonaws.com",
                                  cluster=cluster)
    certificate = make.certificate(db_session, cluster, "checkout.example.com", name="checkout-cert")
    db_session.commit()
    return {"cluster": cluster, "checkout": checkout, "catalog": catalog, "balancer": balancer,
            "certificate": certificate}


def links(html: str) -> list[str]:
    return re.findall(r'<a href="([^"]+)"', html)


def test_clusters_are_found_with_their_apps(client, login_as, estate):
    login_as("viewer")
    assert group(suggest(client, "eu-pr"), "Clusters") == ["eu-prod"]
    full = client.get("/search?q=eu-prod").get_data(as_text=True)
    clusters = full[full.index('id="results-clusters"'):].split("</article>")[0]
    assert f'href="/clusters/{estate["cluster"].id}">eu-prod</a>' in clusters and "2 apps" in clusters
    assert f'href="/apps/{estate["catalog"].id}">catalog</a>' in clusters  # its apps, listed under it
    assert f'href="/apps/{estate["checkout"].id}">checkout</a>' in clusters


def test_owners_lead_to_their_apps(client, login_as, estate):
    login_as("viewer")
    html = suggest(client, "anna.b")
    assert group(html, "Owners") == ["anna.berg"] and "2 apps" in html
    assert 'href="/apps/?q=anna.berg"' in html


def test_load_balancers_by_name_and_by_dns_name(client, login_as, estate):
    login_as("viewer")
    page = f'href="/load-balancers/{estate["balancer"].id}"'
    by_name = suggest(client, "prod-alb")
    assert group(by_name, "Load balancers") == ["eu-prod-alb"] and page in by_name
    by_dns = suggest(client, "alb-99.eu-west-1.elb")
    assert group(by_dns, "Load balancers") == ["eu-prod-alb"] and page in by_dns


def test_certificates_by_common_name_and_name(client, login_as, estate):
    login_as("viewer")
    html = suggest(client, "checkout-cert")
    assert group(html, "Certificates") == ["checkout.example.com"]
    assert f'href="/certificates/?cluster=eu-prod#certificate-{estate["certificate"].id}"' in html
    assert group(suggest(client, "checkout.example"), "Certificates") == ["checkout.example.com"]


def test_a_pasted_url_finds_the_app_serving_its_host(client, login_as, estate):
    login_as("viewer")
    html = suggest(client, "https://checkout.example.com/cart?step=2")
    assert group(html, "Serving checkout.example.com") == ["checkout"]
    assert f'href="/apps/{estate["checkout"].id}" role="option">checkout' in html
    # Without the scheme, through a wildcard domain, and Deis's own default address of an app.
    assert group(suggest(client, "eu.shops.example.com/products/1"), "Serving eu.shops.example.com") == ["catalog"]
    assert group(suggest(client, "http://checkout.deis.platform.test/health"),
                 "Serving checkout.deis.platform.test") == ["checkout"]
    full = client.get("/search", query_string={"q": "https://checkout.example.com/cart"}).get_data(as_text=True)
    assert "Searching for the host of that URL: <code>checkout.example.com</code>" in full
    assert 'id="results-address"' in full


def test_a_near_miss_suggests_the_app_name(client, login_as, estate):
    login_as("viewer")
    html = suggest(client, "checkut")
    assert "Nothing matches “checkut”." in html
    assert 'Did you mean <a href="/search?q=checkout" role="option">checkout</a>?' in html
    full = client.get("/search?q=checkut").get_data(as_text=True)
    assert 'Did you mean <a href="/search?q=checkout"' in full
    assert "Did you mean" not in suggest(client, "checkout")  # a hit needs no guess
    assert "Did you mean" not in suggest(client, "zzzzzzz")  # nothing close: no guess either


def test_the_deis_default_domain_does_not_repeat_the_app_hit(client, login_as, estate):
    login_as("viewer")
    html = suggest(client, "checkout")
    assert group(html, "Applications") == ["checkout"]
    assert group(html, "Domains") == ["checkout.example.com"]  # not the bare "checkout" domain a second time


def test_one_match_is_singular(client, login_as, estate):
    login_as("viewer")
    one = client.get("/search?q=billing").get_data(as_text=True)
    assert "1 match for “billing”." in one and "1 matches" not in one
    assert "2 matches for “eu-prod”." in client.get("/search?q=eu-prod").get_data(as_text=True)  # cluster, balancer
