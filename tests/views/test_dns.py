"""DNS zones with their counts, and a zone's records with what they point at."""
from __future__ import annotations

import re
from html import unescape

import pytest

from tests import factories as make


def record_names(html: str) -> list[str]:
    section = html[html.index('id="record-results"'):]
    return re.findall(r'<td class="record-name"><code>([^<]+)</code>', section)


@pytest.fixture
def zones(db_session):
    node = make.instance(db_session, "deis-eu-1", private_ip="10.1.0.11", public_ip="203.0.113.11")
    balancer = make.load_balancer(db_session, "prod-eu-router", members=[node])
    shop = make.app(db_session, "shop")
    example = make.zone(db_session, "example.com")
    make.zone(db_session, "empty.org")
    other = make.zone(db_session, "other.net")
    make.record(db_session, example, "deis-eu-1.example.com", "A", "203.0.113.11", instance=node)
    make.record(db_session, example, "shop.example.com", "CNAME", balancer.dns_name, load_balancer=balancer,
                app=shop)
    make.record(db_session, example, "old.example.com", "A", "198.51.100.99", dangling=True)
    make.record(db_session, example, "gone.example.com", "CNAME", "gone-lb.elb.amazonaws.com", dangling=True)
    make.record(db_session, example, "example.com", "TXT", "v=spf1 include:_spf.example.net ~all")
    make.record(db_session, example, "example.com", "MX", "mail.example.net")
    make.record(db_session, other, "www.other.net", "A", "198.51.100.1", dangling=True)
    db_session.commit()
    return {"example": example, "other": other, "node": node, "shop": shop}


def test_zones_page_counts_records_and_dangling_records(client, login_as, zones):
    login_as("viewer")
    html = client.get("/dns/").get_data(as_text=True)
    rows = {name: row for name, row in re.findall(r'>([\w.]+)</a></td>(.*?)</tr>', html, re.S)}
    assert list(rows) == ["empty.org", "example.com", "other.net"]
    assert "<td>6</td>" in rows["example.com"] and "2 dangling" in rows["example.com"]
    assert "<td>1</td>" in rows["other.net"] and "1 dangling" in rows["other.net"]
    assert "<td>0</td>" in rows["empty.org"] and 'badge ok">none' in rows["empty.org"]


def test_zone_page_shows_records_with_what_they_point_at(client, login_as, zones):
    login_as("viewer")
    html = client.get(f"/dns/zones/{zones['example'].id}").get_data(as_text=True)
    assert record_names(html) == ["deis-eu-1.example.com", "example.com", "example.com", "gone.example.com",
                                  "old.example.com", "shop.example.com"]

    def row(name: str) -> str:
        return html[html.index(f'<td class="record-name"><code>{name}</code>'):].split("</tr>")[0]

    assert f'href="/instances/{zones["node"].id}"' in row("deis-eu-1.example.com")
    assert "prod-eu-router" in row("shop.example.com") and f'href="/apps/{zones["shop"].id}"' in row("shop.example.com")
    assert "points at nothing we know" in row("old.example.com")
    assert "points at nothing we know" in row("gone.example.com")
    assert "points at nothing we know" not in row("deis-eu-1.example.com")
    assert "outside the platform" in row("example.com")
    assert "www.other.net" not in html


def test_zone_filters_and_search(client, login_as, zones):
    login_as("viewer")
    url = f"/dns/zones/{zones['example'].id}"
    cases = [
        ({"dangling": "yes"}, ["gone.example.com", "old.example.com"]),
        ({"type": "CNAME"}, ["gone.example.com", "shop.example.com"]),
        ({"type": "A", "dangling": "yes"}, ["old.example.com"]),
        ({"q": "203.0.113"}, ["deis-eu-1.example.com"]),  # content
        ({"q": "SHOP"}, ["shop.example.com"]),            # name, case-insensitive
        ({"q": "_spf"}, ["example.com"]),                 # underscore is not a LIKE wildcard here
    ]
    for filters, expected in cases:
        assert record_names(client.get(url, query_string=filters).get_data(as_text=True)) == expected, filters
    partial = client.get(url, query_string={"q": "old"}, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert partial.lstrip().startswith('<section id="record-results">') and record_names(partial) == [
        "old.example.com"]


def test_zone_records_page_by_100(client, login_as, db_session):
    zone = make.zone(db_session, "big.test")
    for number in range(130):
        make.record(db_session, zone, f"host-{number:03d}.big.test", "A", f"10.9.0.{number}")
    db_session.commit()
    login_as("viewer")
    first = client.get(f"/dns/zones/{zone.id}").get_data(as_text=True)
    second = client.get(f"/dns/zones/{zone.id}?page=2").get_data(as_text=True)
    assert len(record_names(first)) == 100 and record_names(second)[0] == "host-100.big.test"
    assert "101–130 of 130 records" in second


def test_bad_parameters_and_unknown_zone(client, login_as, zones):
    login_as("viewer")
    url = f"/dns/zones/{zones['example'].id}"
    for query, message in [("type=BOGUS", "No record type called 'BOGUS'"), ("page=-3", "Page must be"),
                           ("dangling=often", "Filter dangling takes")]:
        response = client.get(f"{url}?{query}")
        assert response.status_code == 400 and message in unescape(response.get_data(as_text=True)), query
    assert client.get(f"{url}?page=9").status_code == 404
    assert client.get("/dns/?page=x").status_code == 400
    assert client.get("/dns/zones/999999").status_code == 404


def test_home_page_links_dangling_records_to_their_zone(client, login_as, zones):
    login_as("viewer")
    html = client.get("/").get_data(as_text=True)
    dangling = html[html.index('id="panel-dns"'):]
    assert f'href="/dns/zones/{zones["example"].id}?q=old.example.com&amp;dangling=yes"' in dangling
