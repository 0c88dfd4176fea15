"""Contract tests: the official `cloudflare` SDK (and raw `requests`) against the Cloudflare simulator over HTTP.

Each test asserts what a client sees on the wire and what the simulator then holds (`CloudflareSimulator.records`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import datetime
from itertools import islice

import cloudflare
import pytest
import requests
from cloudflare import Cloudflare

from sandbox.cloudflare import CloudflareSimulator, zone_id
from sandbox.scenario import RecordSpec, Scenario, ScenarioError, parse

from .conftest import (
    CLOUDFLARE_BIG_ZONE_RECORDS,
    CLOUDFLARE_FILLER_ZONES,
    cloudflare_resolve_content,
    cloudflare_scenario_document,
    serve_wsgi,
)

Http = Callable[..., requests.Response]
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")
COM = zone_id("example.com")
ORG = zone_id("example.org")
NET = zone_id("example.net")


def error_codes(error: cloudflare.APIStatusError | requests.Response) -> list[int]:
    """The codes in a v4 error envelope, the nested error_chain included."""
    body = error.json() if isinstance(error, requests.Response) else error.body
    assert isinstance(body, dict) and body["success"] is False and body["result"] is None
    codes = []
    for item in body["errors"]:
        codes.append(item["code"])
        codes.extend(link["code"] for link in item.get("error_chain", []))
    return codes


# -- zones -------------------------------------------------------------------------------------------------------
def test_zones_auto_paginate_past_the_first_page(cloudflare_client: Cloudflare) -> None:
    # islice: were the simulator to never answer an empty page, the SDK would page forever; fail instead of hang.
    zones = list(islice(cloudflare_client.zones.list(), 100))

    names = [zone.name for zone in zones]
    assert len(names) == 3 + CLOUDFLARE_FILLER_ZONES  # more than the default page of 20
    assert names == sorted(names)
    assert zones[names.index("example.com")].id == COM == zone_id("EXAMPLE.com.")
    assert all(HEX32.match(zone.id) for zone in zones)
    assert zones[names.index("example.net")].plan.name == "Enterprise Website"


def test_zone_pages_end_with_an_empty_result(cloudflare_http: Http) -> None:
    first = cloudflare_http("GET", "/zones").json()
    past_the_end = cloudflare_http("GET", "/zones", params={"page": 99}).json()

    assert first["result_info"] == {"page": 1, "per_page": 20, "count": 20, "total_count": 25, "total_pages": 2}
    assert past_the_end["success"] is True and past_the_end["result"] == []
    assert past_the_end["result_info"]["count"] == 0 and past_the_end["result_info"]["page"] == 99


def test_zone_name_filter_and_get(cloudflare_client: Cloudflare) -> None:
    found = list(cloudflare_client.zones.list(name="example.org"))
    zone = cloudflare_client.zones.get(zone_id=ORG)

    assert [z.id for z in found] == [ORG]
    assert zone is not None and zone.name == "example.org" and zone.status == "active"


# -- listing records -----------------------------------------------------------------------------------------------
def test_records_auto_paginate_across_many_pages(
    cloudflare_client: Cloudflare, cloudflare_sim: CloudflareSimulator
) -> None:
    listed = list(islice(cloudflare_client.dns.records.list(zone_id=COM, per_page=100), 5_000))

    expected = cloudflare_sim.records("example.com")
    assert len(listed) == CLOUDFLARE_BIG_ZONE_RECORDS == len(expected)
    assert [record.id for record in listed] == [record["id"] for record in expected]
    www = next(record for record in listed if record.name == "www.example.com")
    assert www.type == "CNAME" and www.content == "lb-prod-1234567890.us-east-1.elb.amazonaws.com"
    assert int(listed[0].ttl) == 300


def test_large_pages_and_default_page_size(cloudflare_http: Http) -> None:
    default = cloudflare_http("GET", f"/zones/{COM}/dns_records").json()
    large = cloudflare_http("GET", f"/zones/{COM}/dns_records", params={"per_page": 5000}).json()
    clamped = cloudflare_http("GET", f"/zones/{COM}/dns_records", params={"per_page": 9000}).json()
    float_size = cloudflare_http("GET", f"/zones/{COM}/dns_records", params={"per_page": "500.0", "page": "3.0"}).json()

    assert default["result_info"] == {"page": 1, "per_page": 100, "count": 100, "total_count": 1234, "total_pages": 13}
    assert large["result_info"]["count"] == CLOUDFLARE_BIG_ZONE_RECORDS and len(large["result"]) == 1234
    assert clamped["result_info"]["per_page"] == 5000
    assert float_size["result_info"] == {
        "page": 3,
        "per_page": 500,
        "count": 234,
        "total_count": 1234,
        "total_pages": 3,
    }


def test_record_object_has_the_strict_shape(cloudflare_http: Http) -> None:
    record = cloudflare_http("GET", f"/zones/{ORG}/dns_records", params={"name.exact": "web-1.example.org"}).json()

    [web] = record["result"]
    assert set(web) == {
        "id",
        "name",
        "type",
        "content",
        "proxiable",
        "proxied",
        "ttl",
        "settings",
        "meta",
        "comment",
        "tags",
        "created_on",
        "modified_on",
    }
    assert HEX32.match(web["id"]) and TIMESTAMP.match(web["created_on"]) and TIMESTAMP.match(web["modified_on"])
    assert (web["type"], web["content"], web["ttl"], web["proxied"], web["proxiable"]) == (
        "A",
        "203.0.113.10",
        300,
        False,
        True,
    )


def test_filters_name_type_content(cloudflare_client: Cloudflare) -> None:
    records = cloudflare_client.dns.records

    by_exact_name = list(records.list(zone_id=COM, name={"exact": "h0042.example.com"}))
    apex_txt = list(records.list(zone_id=COM, name={"exact": "example.com"}, type="TXT"))
    cnames = list(records.list(zone_id=COM, type="CNAME"))
    by_content = list(records.list(zone_id=COM, content={"exact": "10.0.0.7"}))
    starts = list(records.list(zone_id=COM, name={"startswith": "h012"}, per_page=5))
    proxied = list(records.list(zone_id=COM, proxied=True))
    either = list(records.list(zone_id=ORG, type="AAAA", content={"exact": "198.51.100.77"}, match="any"))

    assert [r.content for r in by_exact_name] == ["10.0.0.42"]
    assert [(r.type, r.content) for r in apex_txt] == [("TXT", "v=spf1 -all")]
    assert [r.name for r in cnames] == ["www.example.com"]
    assert [r.name for r in by_content] == ["h0007.example.com"]
    assert len(starts) == 10 and all(r.name.startswith("h012") for r in starts)
    assert [(r.name, int(r.ttl)) for r in proxied] == [("app.example.com", 1)]  # proxied means automatic TTL
    assert sorted(r.name for r in either) == ["dangling.example.org", "v6.example.org"]


def test_bare_name_filter_is_exact(cloudflare_http: Http) -> None:
    bare = cloudflare_http("GET", f"/zones/{COM}/dns_records", params={"name": "h0001.example.com"}).json()
    mx = cloudflare_http("GET", f"/zones/{COM}/dns_records", params={"type": "MX"}).json()

    assert [r["content"] for r in bare["result"]] == ["10.0.0.1"]
    assert [(r["content"], r["priority"]) for r in mx["result"]] == [("mail.example.com", 10)]


# -- writing records -------------------------------------------------------------------------------------------------
def test_create_then_get(cloudflare_client: Cloudflare, cloudflare_sim: CloudflareSimulator) -> None:
    created = cloudflare_client.dns.records.create(
        zone_id=ORG,
        name="new.example.org",
        type="A",
        content="203.0.113.50",
        ttl=120,
        proxied=False,
        comment="made by a test",
    )
    fetched = cloudflare_client.dns.records.get(created.id, zone_id=ORG)

    assert HEX32.match(created.id) and fetched is not None and fetched.content == "203.0.113.50"
    stored = [r for r in cloudflare_sim.records("example.org") if r["name"] == "new.example.org"]
    assert [(r["id"], r["content"], r["ttl"], r["comment"]) for r in stored] == [
        (created.id, "203.0.113.50", 120, "made by a test")
    ]
    assert stored[0]["created_on"] == stored[0]["modified_on"]


def test_relative_and_apex_names_are_completed_with_the_zone(cloudflare_client: Cloudflare) -> None:
    # Like the real API: a name outside the zone is taken as relative, "@" is the apex.
    relative = cloudflare_client.dns.records.create(zone_id=ORG, name="Status", type="A", content="203.0.113.60", ttl=1)
    outside = cloudflare_client.dns.records.create(
        zone_id=ORG, name="h1.example.com", type="A", content="203.0.113.61", ttl=1
    )
    apex = cloudflare_client.dns.records.create(zone_id=ORG, name="@", type="TXT", content="hello", ttl=1)

    assert relative.name == "status.example.org"
    assert outside.name == "h1.example.com.example.org"
    assert apex.name == "example.org"


def test_update_put_replaces_the_whole_record(
    cloudflare_client: Cloudflare, cloudflare_sim: CloudflareSimulator
) -> None:
    [before] = [r for r in cloudflare_sim.records("example.org") if r["name"] == "dangling.example.org"]

    updated = cloudflare_client.dns.records.update(
        before["id"], zone_id=ORG, name="dangling.example.org", type="A", content="203.0.113.11", ttl=600
    )

    [after] = [r for r in cloudflare_sim.records("example.org") if r["id"] == before["id"]]
    assert updated.content == "203.0.113.11" and int(updated.ttl) == 600
    assert after["comment"] is None  # PUT replaces: the comment that was not sent is gone
    assert after["created_on"] == before["created_on"] and after["modified_on"] > before["modified_on"]


def test_edit_patch_changes_only_what_is_sent(
    cloudflare_client: Cloudflare, cloudflare_sim: CloudflareSimulator
) -> None:
    [before] = [r for r in cloudflare_sim.records("example.org") if r["name"] == "dangling.example.org"]

    first = cloudflare_client.dns.records.edit(
        before["id"], zone_id=ORG, name="dangling.example.org", type="A", ttl=3600
    )
    second = cloudflare_client.dns.records.edit(
        before["id"], zone_id=ORG, name="dangling.example.org", type="A", ttl=3600
    )

    assert first.content == "198.51.100.77" and int(first.ttl) == 3600 and first.comment == "points at nothing"
    seeded = datetime.fromisoformat(before["modified_on"].replace("Z", "+00:00"))
    assert second.modified_on > first.modified_on > seeded  # every write moves modified_on


def test_patch_with_requests_keeps_other_fields(cloudflare_http: Http, cloudflare_sim: CloudflareSimulator) -> None:
    [before] = [r for r in cloudflare_sim.records("example.org") if r["name"] == "web-2.example.org"]

    response = cloudflare_http("PATCH", f"/zones/{ORG}/dns_records/{before['id']}", json={"content": "203.0.113.99"})

    assert response.status_code == 200
    assert {k: v for k, v in response.json()["result"].items() if k != "modified_on"} == {
        **{k: v for k, v in before.items() if k != "modified_on"},
        "content": "203.0.113.99",
    }


def test_delete_answers_the_id_and_the_record_is_gone(
    cloudflare_client: Cloudflare, cloudflare_sim: CloudflareSimulator
) -> None:
    [record] = [r for r in cloudflare_sim.records("example.org") if r["name"] == "api.example.org"]

    deleted = cloudflare_client.dns.records.delete(record["id"], zone_id=ORG)

    assert deleted is not None and deleted.id == record["id"]
    assert all(r["id"] != record["id"] for r in cloudflare_sim.records("example.org"))
    with pytest.raises(cloudflare.NotFoundError) as missing:
        cloudflare_client.dns.records.delete(record["id"], zone_id=ORG)
    assert error_codes(missing.value) == [81044]


# -- the rules Cloudflare enforces ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "codes"),
    [
        ({"type": "BOGUS", "content": "x", "ttl": 300}, [1004, 9020]),
        ({"type": "A", "content": "10.0.0.1", "ttl": 30}, [1004, 9021]),  # 30 s is for enterprise zones only
        ({"type": "A", "content": "10.0.0.1", "ttl": 86401}, [1004, 9021]),
        ({"type": "A", "content": "10.0.0.256", "ttl": 300}, [9005]),
        ({"type": "A", "content": "2001:db8::1", "ttl": 300}, [9005]),
        ({"type": "AAAA", "content": "10.0.0.1", "ttl": 300}, [9006]),
        ({"type": "CNAME", "content": "203.0.113.1", "ttl": 300}, [1004, 9007]),
        ({"type": "CNAME", "content": "bad host!.example.net", "ttl": 300}, [1004, 9007]),
        ({"type": "TXT", "content": "x", "ttl": 300, "proxied": True}, [1004, 9041]),
        ({"type": "A", "content": "10.0.0.1", "ttl": 300, "tags": ["team:dns"]}, [1004, 9300]),  # no tags on Free
    ],
)
def test_invalid_records_are_refused_and_change_nothing(
    cloudflare_client: Cloudflare, cloudflare_sim: CloudflareSimulator, fields: dict, codes: list[int]
) -> None:
    before = cloudflare_sim.records("example.org")

    with pytest.raises(cloudflare.BadRequestError) as refused:
        cloudflare_client.dns.records.create(zone_id=ORG, name="bad.example.org", **fields)

    assert refused.value.status_code == 400 and error_codes(refused.value) == codes
    assert cloudflare_sim.records("example.org") == before


def test_ttl_boundaries_depend_on_the_plan(cloudflare_client: Cloudflare) -> None:
    automatic = cloudflare_client.dns.records.create(zone_id=ORG, name="auto", type="A", content="10.0.0.1", ttl=1)
    minimum = cloudflare_client.dns.records.create(zone_id=ORG, name="min", type="A", content="10.0.0.2", ttl=60)
    maximum = cloudflare_client.dns.records.create(zone_id=ORG, name="max", type="A", content="10.0.0.3", ttl=86400)
    enterprise = cloudflare_client.dns.records.create(zone_id=NET, name="fast", type="A", content="10.0.0.4", ttl=30)

    assert [int(r.ttl) for r in (automatic, minimum, maximum, enterprise)] == [1, 60, 86400, 30]


def test_cname_cannot_share_a_name(cloudflare_client: Cloudflare, cloudflare_sim: CloudflareSimulator) -> None:
    before = cloudflare_sim.records("example.org")

    with pytest.raises(cloudflare.BadRequestError) as cname_on_a:
        cloudflare_client.dns.records.create(
            zone_id=ORG, name="web-1.example.org", type="CNAME", content="x.example.net", ttl=1
        )
    with pytest.raises(cloudflare.BadRequestError) as a_on_cname:
        cloudflare_client.dns.records.create(zone_id=ORG, name="api.example.org", type="A", content="10.0.0.9", ttl=1)
    with pytest.raises(cloudflare.BadRequestError) as txt_on_cname:
        cloudflare_client.dns.records.create(zone_id=ORG, name="api.example.org", type="TXT", content="hi", ttl=1)

    assert error_codes(cname_on_a.value) == [81053]
    assert error_codes(a_on_cname.value) == [81054] == error_codes(txt_on_cname.value)
    assert cloudflare_sim.records("example.org") == before


def test_identical_record_is_refused_but_a_second_address_is_fine(cloudflare_client: Cloudflare) -> None:
    with pytest.raises(cloudflare.BadRequestError) as identical:
        cloudflare_client.dns.records.create(
            zone_id=ORG, name="web-1.example.org", type="A", content="203.0.113.10", ttl=60
        )
    second = cloudflare_client.dns.records.create(
        zone_id=ORG, name="web-1.example.org", type="A", content="203.0.113.12", ttl=60
    )

    assert error_codes(identical.value) == [81058]
    assert second.name == "web-1.example.org"


def test_update_into_a_conflict_is_refused(cloudflare_client: Cloudflare, cloudflare_sim: CloudflareSimulator) -> None:
    [web2] = [r for r in cloudflare_sim.records("example.org") if r["name"] == "web-2.example.org"]

    with pytest.raises(cloudflare.BadRequestError) as refused:
        cloudflare_client.dns.records.update(
            web2["id"], zone_id=ORG, name="web-1.example.org", type="A", content="203.0.113.10", ttl=1
        )

    assert error_codes(refused.value) == [81058]
    assert [r for r in cloudflare_sim.records("example.org") if r["id"] == web2["id"]] == [web2]


# -- batch -------------------------------------------------------------------------------------------------------------
def test_batch_applies_deletes_patches_puts_posts(
    cloudflare_client: Cloudflare, cloudflare_sim: CloudflareSimulator
) -> None:
    by_name = {r["name"]: r for r in cloudflare_sim.records("example.org")}

    result = cloudflare_client.dns.records.batch(
        zone_id=ORG,
        deletes=[{"id": by_name["api.example.org"]["id"]}],
        patches=[{"id": by_name["web-1.example.org"]["id"], "content": "203.0.113.20"}],
        puts=[
            {
                "id": by_name["web-2.example.org"]["id"],
                "name": "web-2.example.org",
                "type": "A",
                "content": "203.0.113.21",
                "ttl": 60,
            }
        ],
        # The A record may take the name the deleted CNAME held: deletes run before posts.
        posts=[{"name": "api.example.org", "type": "A", "content": "203.0.113.22", "ttl": 1}],
    )

    assert result is not None
    assert [r.id for r in result.deletes or []] == [by_name["api.example.org"]["id"]]
    assert [r.content for r in result.patches or []] == ["203.0.113.20"]
    assert [r.content for r in result.puts or []] == ["203.0.113.21"]
    assert [(r.name, r.type) for r in result.posts or []] == [("api.example.org", "A")]
    after = {(r["name"], r["type"]): r["content"] for r in cloudflare_sim.records("example.org")}
    assert after[("api.example.org", "A")] == "203.0.113.22" and ("api.example.org", "CNAME") not in after
    assert after[("web-1.example.org", "A")] == "203.0.113.20" and after[("web-2.example.org", "A")] == "203.0.113.21"


def test_batch_is_all_or_nothing(cloudflare_client: Cloudflare, cloudflare_sim: CloudflareSimulator) -> None:
    before = cloudflare_sim.records("example.org")
    web1 = next(r for r in before if r["name"] == "web-1.example.org")

    with pytest.raises(cloudflare.BadRequestError) as refused:
        cloudflare_client.dns.records.batch(
            zone_id=ORG,
            deletes=[{"id": web1["id"]}],
            posts=[
                {"name": "ok.example.org", "type": "A", "content": "203.0.113.30", "ttl": 1},
                {"name": "broken.example.org", "type": "A", "content": "not-an-ip", "ttl": 1},
            ],
        )

    assert error_codes(refused.value) == [9005]
    assert refused.value.body["errors"][0]["source"] == {"pointer": "/posts/1"}
    assert cloudflare_sim.records("example.org") == before


def test_batch_unknown_record_and_size_limit(
    cloudflare_client: Cloudflare, cloudflare_sim: CloudflareSimulator
) -> None:
    before = cloudflare_sim.records("example.org")
    too_many = [{"name": f"n{index}.example.org", "type": "A", "content": "10.1.0.1", "ttl": 1} for index in range(201)]

    with pytest.raises(cloudflare.NotFoundError) as unknown:
        cloudflare_client.dns.records.batch(zone_id=ORG, deletes=[{"id": "f" * 32}])
    with pytest.raises(cloudflare.BadRequestError) as over_limit:
        cloudflare_client.dns.records.batch(zone_id=ORG, posts=too_many)
    fits = cloudflare_client.dns.records.batch(zone_id=ORG, posts=too_many[:200])

    assert error_codes(unknown.value) == [81044]
    assert over_limit.value.status_code == 400
    assert fits is not None and len(fits.posts or []) == 200
    assert len(cloudflare_sim.records("example.org")) == len(before) + 200


# -- not found, bad input, authentication ------------------------------------------------------------------------------
def test_unknown_zone_and_record_raise_not_found(cloudflare_client: Cloudflare) -> None:
    with pytest.raises(cloudflare.NotFoundError) as no_zone:
        list(cloudflare_client.dns.records.list(zone_id="0" * 32))
    with pytest.raises(cloudflare.NotFoundError) as no_zone_get:
        cloudflare_client.zones.get(zone_id="0" * 32)
    with pytest.raises(cloudflare.NotFoundError) as no_record:
        cloudflare_client.dns.records.get("0" * 32, zone_id=ORG)

    assert error_codes(no_zone.value) == [7003] == error_codes(no_zone_get.value)
    assert no_zone.value.body["errors"][0]["message"] == (
        f"Could not route to /client/v4/zones/{'0' * 32}/dns_records, perhaps your object identifier is invalid?"
    )
    assert error_codes(no_record.value) == [81044]
    assert no_record.value.body["errors"][0]["message"] == "Record does not exist."


def test_malformed_identifiers_are_routing_errors(cloudflare_http: Http) -> None:
    zone_name_as_id = cloudflare_http("GET", "/zones/example.com/dns_records")
    short_record_id = cloudflare_http("GET", f"/zones/{ORG}/dns_records/12345")

    assert zone_name_as_id.status_code == 400 and error_codes(zone_name_as_id) == [7003, 7000]
    assert short_record_id.status_code == 400 and error_codes(short_record_id) == [7003, 7000]


def test_malformed_json_is_a_400(cloudflare_http: Http, cloudflare_sim: CloudflareSimulator) -> None:
    before = cloudflare_sim.records("example.org")
    headers = {"Content-Type": "application/json"}

    broken = cloudflare_http("POST", f"/zones/{ORG}/dns_records", data=b'{"type": "A", "name": ', headers=headers)
    not_an_object = cloudflare_http("POST", f"/zones/{ORG}/dns_records", data=b'["A"]', headers=headers)
    bad_batch = cloudflare_http("POST", f"/zones/{ORG}/dns_records/batch", json={"posts": {"name": "x"}})

    for response in (broken, not_an_object, bad_batch):
        assert response.status_code == 400 and error_codes(response) == [9207]
    assert broken.json()["errors"][0]["message"] == "Request body is invalid."
    assert cloudflare_sim.records("example.org") == before


def test_bad_query_parameters_are_refused(cloudflare_http: Http) -> None:
    for params in ({"page": 0}, {"per_page": "many"}, {"type": "BOGUS"}, {"order": "colour"}, {"page": 1.5}):
        response = cloudflare_http("GET", f"/zones/{COM}/dns_records", params=params)
        assert response.status_code == 400, params
        assert response.json()["success"] is False


def test_wrong_token_raises_authentication_error(cloudflare_base_url: str) -> None:
    impostor = Cloudflare(api_token="not-the-sandbox-token", base_url=cloudflare_base_url, max_retries=0)

    with pytest.raises(cloudflare.AuthenticationError) as refused:
        list(impostor.zones.list())

    assert refused.value.status_code == 401 and error_codes(refused.value) == [1000]
    assert refused.value.body["errors"][0]["message"] == "Invalid API Token"


def test_missing_and_malformed_authorization(cloudflare_http: Http) -> None:
    missing = cloudflare_http("GET", "/zones", token=None)
    basic = cloudflare_http("GET", "/zones", token=None, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    spaces = cloudflare_http("GET", "/zones", token="two words")
    global_key = cloudflare_http("GET", "/zones", token=None, headers={"X-Auth-Email": "a@b.c", "X-Auth-Key": "k"})

    assert missing.status_code == 400 and error_codes(missing) == [9106]
    assert missing.json()["errors"][0]["message"] == "Missing X-Auth-Key, X-Auth-Email or Authorization headers"
    assert basic.status_code == 400 and error_codes(basic) == [6003, 6111]
    assert spaces.status_code == 400 and error_codes(spaces) == [6003, 6111]
    assert global_key.status_code == 403 and error_codes(global_key) == [9103]


def test_token_verify(cloudflare_http: Http) -> None:
    answer = cloudflare_http("GET", "/user/tokens/verify").json()

    assert answer["success"] is True and answer["result"]["status"] == "active"
    assert answer["messages"][0]["message"] == "This API Token is valid and active"


# -- rate limit ----------------------------------------------------------------------------------------------------
def test_rate_limit_blocks_every_call_for_the_rest_of_the_window(
    cloudflare_client: Cloudflare, cloudflare_sim: CloudflareSimulator, cloudflare_http: Http
) -> None:
    cloudflare_sim.rate_limit(requests=3, window_seconds=120)

    answers = [cloudflare_http("GET", "/zones", params={"per_page": 5}) for _ in range(3)]
    with pytest.raises(cloudflare.RateLimitError) as limited:
        cloudflare_client.zones.get(zone_id=ORG)
    other_endpoint = cloudflare_http(
        "POST", f"/zones/{ORG}/dns_records", json={"type": "A", "name": "x", "content": "10.0.0.1"}
    )

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.headers["Ratelimit"].split(";")[1] for a in answers] == ["r=2", "r=1", "r=0"]
    assert answers[0].headers["Ratelimit-Policy"] == '"default";q=3;w=120'
    assert "retry-after" not in answers[0].headers
    headers = limited.value.response.headers
    assert 1 <= int(headers["retry-after"]) <= 120
    assert headers["Ratelimit"].startswith('"default";r=0;t=')
    assert limited.value.body["errors"][0] == {
        "code": 10100,
        "message": "More than 3 requests per 120 seconds reached. "
        "Please wait and consider throttling your request speed",
    }
    assert other_endpoint.status_code == 429  # every call, not only the one that crossed the line
    assert all(r["name"] != "x.example.org" for r in cloudflare_sim.records("example.org"))


def test_rate_limit_is_per_token_and_resettable(cloudflare_sim: CloudflareSimulator, cloudflare_http: Http) -> None:
    cloudflare_sim.rate_limit(requests=1, window_seconds=300)

    first = cloudflare_http("GET", "/zones")
    second = cloudflare_http("GET", "/zones")
    impostor = cloudflare_http("GET", "/zones", token="someone-else")  # a bad token is refused, not rate limited
    cloudflare_sim.rate_limit(requests=5, window_seconds=300)
    after_change = cloudflare_http("GET", "/zones")

    assert (first.status_code, second.status_code, impostor.status_code, after_change.status_code) == (
        200,
        429,
        401,
        200,
    )


def test_default_budget_comes_from_the_scenario(cloudflare_http: Http) -> None:
    response = cloudflare_http("GET", "/zones")

    assert response.headers["Ratelimit-Policy"] == '"default";q=1200;w=300'
    assert response.headers["Ratelimit"].startswith('"default";r=1199;')


# -- seeding, reset, inspection ------------------------------------------------------------------------------------
def test_reset_restores_the_scenario(cloudflare_client: Cloudflare, cloudflare_sim: CloudflareSimulator) -> None:
    original = cloudflare_sim.records("example.org")
    cloudflare_client.dns.records.create(zone_id=ORG, name="temp", type="A", content="10.0.0.1", ttl=1)
    cloudflare_sim.faults.configure(error_rate=1.0)
    cloudflare_sim.rate_limit(requests=1, window_seconds=60)

    cloudflare_sim.reset()

    stamps = ("created_on", "modified_on")  # reseeding stamps records with the time of the reset
    restored = [{k: v for k, v in r.items() if k not in stamps} for r in cloudflare_sim.records("example.org")]
    assert restored == [{k: v for k, v in r.items() if k not in stamps} for r in original]
    assert cloudflare_sim.faults.settings.error_rate == 0.0
    assert len(list(cloudflare_client.zones.list())) == 25


def test_reset_with_another_scenario_and_resolver(cloudflare_sim: CloudflareSimulator) -> None:
    document = cloudflare_scenario_document()
    document["zones"] = [{"name": "only.example", "records": [{"name": "box.only.example", "instance": "web-2"}]}]

    cloudflare_sim.reset(parse(document), resolve_content=lambda spec: "192.0.2.99")

    assert [r["content"] for r in cloudflare_sim.records("only.example")] == ["192.0.2.99"]
    with pytest.raises(KeyError):
        cloudflare_sim.records("example.com")


def test_seeded_ids_are_deterministic(cloudflare_scenario: Scenario) -> None:
    one = CloudflareSimulator(cloudflare_scenario, cloudflare_resolve_content)
    two = CloudflareSimulator(cloudflare_scenario, cloudflare_resolve_content)

    assert [r["id"] for r in one.records("example.org")] == [r["id"] for r in two.records("example.org")]
    assert one.zone_id("example.org") == ORG


def test_a_scenario_cloudflare_would_refuse_is_rejected_with_the_reason() -> None:
    document = cloudflare_scenario_document()
    document["zones"] = [
        {
            "name": "clash.example",
            "records": [
                {"name": "www.clash.example", "content": "10.0.0.1"},
                {"name": "www.clash.example", "type": "CNAME", "content": "elsewhere.example"},
            ],
        }
    ]

    with pytest.raises(ScenarioError, match=r"clash\.example, record #1 www\.clash\.example CNAME.*81053"):
        CloudflareSimulator(parse(document), cloudflare_resolve_content)


def test_records_of_an_unknown_zone_is_a_key_error(cloudflare_sim: CloudflareSimulator) -> None:
    with pytest.raises(KeyError, match=r"nowhere\.example"):
        cloudflare_sim.records("nowhere.example")


def test_a_resolver_failure_names_the_record(cloudflare_sim: CloudflareSimulator) -> None:
    before = cloudflare_sim.records("example.org")

    def resolver_without_web_2(spec: RecordSpec) -> str:
        if spec.instance == "web-2":
            raise KeyError("no instance named web-2 in this region")
        return cloudflare_resolve_content(spec)

    with pytest.raises(ScenarioError, match=r"record #1 web-2\.example\.org A: cannot resolve its content"):
        cloudflare_sim.reset(parse(cloudflare_scenario_document()), resolve_content=resolver_without_web_2)

    assert cloudflare_sim.records("example.org") == before  # a failed reseed leaves the previous state serving


# -- harsher switches: rate limit per user, churn, apply-then-fail, the write log ------------------------------------
def _per_user_document() -> dict:
    document = cloudflare_scenario_document()
    document["cloudflare"] = {
        "token": "panel-token",
        "user": "ops",
        "other_tokens": [{"token": "terraform-token", "user": "ops"}, {"token": "ddns-token", "user": "alice"}],
        "rate_limit_requests": 3,
        "rate_limit_window_seconds": 300,
    }
    return document


def test_rate_limit_is_per_user_across_all_of_its_tokens() -> None:
    simulator = CloudflareSimulator(parse(_per_user_document()), cloudflare_resolve_content)
    with serve_wsgi(simulator.wsgi_app) as base_url:

        def get(token: str) -> requests.Response:
            return requests.get(f"{base_url}/client/v4/zones", headers={"Authorization": f"Bearer {token}"}, timeout=10)

        panel = [get("panel-token").status_code for _ in range(2)]
        other_tool = get("terraform-token")  # the same user's third request: the last one of the budget
        blocked = [get("panel-token"), get("terraform-token")]
        another_user = get("ddns-token")

    assert panel == [200, 200] and other_tool.status_code == 200
    assert other_tool.headers["Ratelimit"].startswith('"default";r=0;')
    assert [answer.status_code for answer in blocked] == [429, 429]
    assert blocked[0].json()["errors"][0]["code"] == 10100
    assert another_user.status_code == 200  # alice's budget is her own


def test_a_token_listed_twice_is_refused() -> None:
    document = _per_user_document()
    document["cloudflare"]["other_tokens"].append({"token": "panel-token", "user": "bob"})
    with pytest.raises(ScenarioError, match="a token is listed twice"):
        parse(document)


def test_churn_creates_and_deletes_records_while_clients_read(
    cloudflare_sim: CloudflareSimulator, cloudflare_http: Http
) -> None:
    before = {record["id"] for record in cloudflare_sim.records("example.org")}
    cloudflare_http("GET", "/zones")
    assert cloudflare_sim.churn_log == []  # off by default
    cloudflare_sim.faults.configure(churn_per_second=2_000, seed=5)
    threading.Event().wait(0.05)
    cloudflare_http("GET", "/zones")  # churn happens between requests, as the clock says

    log = cloudflare_sim.churn_log
    assert len(log) >= 100 and {action for action, _zone, _id in log} == {"created", "deleted"}
    assert cloudflare_sim.faults.state()["churned"] == len(log)
    org = {record["id"]: record for record in cloudflare_sim.records("example.org")}
    for action, zone, record_id in log:
        if zone == "example.org" and action == "deleted":
            assert record_id not in org
    created = [record_id for action, zone, record_id in log if zone == "example.org" and action == "created"]
    survivors = [org[record_id] for record_id in created if record_id in org]
    assert all(record["name"].startswith("churn-") and record["type"] == "A" for record in survivors)
    assert set(org) != before


def test_apply_then_fail_keeps_the_record_and_answers_in_the_cloudflare_envelope(
    cloudflare_client: Cloudflare, cloudflare_sim: CloudflareSimulator
) -> None:
    cloudflare_sim.faults.configure(apply_then_fail_rate=1.0, error_statuses=[503])
    with pytest.raises(cloudflare.InternalServerError) as lost:
        cloudflare_client.dns.records.create(zone_id=ORG, name="lost", type="A", content="10.0.0.42", ttl=300)

    assert lost.value.status_code == 503 and error_codes(lost.value) == [503]
    assert [r["content"] for r in cloudflare_sim.records("example.org") if r["name"] == "lost.example.org"] == [
        "10.0.0.42"]
    # Reads are answered as usual (the switch applies to writes unless told otherwise).
    assert any(r.name == "lost.example.org" for r in cloudflare_client.dns.records.list(zone_id=ORG))


def test_apply_then_fail_as_a_reset_keeps_the_delete(
    cloudflare_client: Cloudflare, cloudflare_sim: CloudflareSimulator
) -> None:
    victim = next(r for r in cloudflare_sim.records("example.org") if r["name"] == "dangling.example.org")
    cloudflare_sim.faults.configure(apply_then_fail_rate=1.0, apply_then_fail_reset=True)
    with pytest.raises(cloudflare.APIConnectionError):
        cloudflare_client.dns.records.delete(victim["id"], zone_id=ORG)
    assert all(r["id"] != victim["id"] for r in cloudflare_sim.records("example.org"))


def test_the_write_log_holds_what_clients_sent(cloudflare_http: Http, cloudflare_sim: CloudflareSimulator) -> None:
    web_2 = next(r for r in cloudflare_sim.records("example.org") if r["name"] == "web-2.example.org")
    cloudflare_http("GET", f"/zones/{ORG}/dns_records")
    cloudflare_http("PATCH", f"/zones/{ORG}/dns_records/{web_2['id']}", json={"content": "203.0.113.99"})

    assert list(cloudflare_sim.write_log) == [
        {"method": "PATCH", "path": f"/client/v4/zones/{ORG}/dns_records/{web_2['id']}",
         "body": {"content": "203.0.113.99"}}]
    patched = next(r for r in cloudflare_sim.records("example.org") if r["id"] == web_2["id"])
    assert (patched["content"], patched["ttl"]) == ("203.0.113.99", 120)  # PATCH keeps what it was not sent


def test_helpers_add_and_remove_records_as_another_tool_would(cloudflare_sim: CloudflareSimulator) -> None:
    added = cloudflare_sim.add_record("example.org", type="TXT", name="note", content="hello")
    assert added["name"] == "note.example.org"
    cloudflare_sim.remove_record("example.org", added["id"])
    assert all(r["id"] != added["id"] for r in cloudflare_sim.records("example.org"))
    with pytest.raises(KeyError):
        cloudflare_sim.remove_record("example.org", added["id"])
