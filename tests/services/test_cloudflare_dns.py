"""The Cloudflare client (official SDK) against the simulator: paging, writes, errors, our request budget."""
from __future__ import annotations

import time

import pytest

from app.services.cloudflare_dns import CloudflareDns, CloudflareError, RequestBudget


@pytest.fixture
def cloudflare(sandbox) -> CloudflareDns:
    env = sandbox.env()
    return CloudflareDns(env["CLOUDFLARE_API_TOKEN"], base_url=env["CLOUDFLARE_BASE_URL"])


def test_lists_zones_and_records_and_writes_records(cloudflare, sandbox):
    zones = {zone.name: zone for zone in cloudflare.zones()}
    assert set(zones) == {"example.com", "example.net"}
    records = cloudflare.records(zones["example.net"])
    assert {r.name for r in records} >= {"eu-prod-deis-1.example.net", "old-build.example.net"}
    assert all(isinstance(r.ttl, int) for r in records)

    created = cloudflare.create_record(zones["example.net"], name="new.example.net", type="A", content="10.9.9.9",
                                       ttl=300, comment="made by a test")
    assert [r.content for r in cloudflare.find_records(zones["example.net"], "new.example.net", "A")] == ["10.9.9.9"]
    cloudflare.update_record(zones["example.net"], created.cf_id, name="new.example.net", type="A",
                             content="10.9.9.10", ttl=300)
    assert [r["content"] for r in sandbox.cloudflare.records("example.net") if r["name"] == "new.example.net"] == [
        "10.9.9.10"]
    cloudflare.delete_record(zones["example.net"], created.cf_id)
    assert cloudflare.find_records(zones["example.net"], "new.example.net") == []


def test_errors_are_cloudflares_words(cloudflare, sandbox):
    zone = next(zone for zone in cloudflare.zones() if zone.name == "example.net")
    with pytest.raises(CloudflareError, match=r"create A bad.example.net failed: HTTP 400: .*"):
        cloudflare.create_record(zone, name="bad.example.net", type="A", content="not-an-ip", ttl=300)
    with pytest.raises(CloudflareError, match=r"HTTP 404"):
        cloudflare.delete_record(zone, "0" * 32)
    wrong = CloudflareDns("wrong-token", base_url=sandbox.env()["CLOUDFLARE_BASE_URL"])
    with pytest.raises(CloudflareError, match=r"list zones failed: HTTP 401"):
        wrong.zones()


def test_short_429_is_waited_out_and_a_long_one_fails_clearly(sandbox, cloudflare):
    sandbox.cloudflare.rate_limit(requests=3, window_seconds=2)
    for _ in range(3):
        cloudflare.zones()  # spends the simulator's budget
    started = time.monotonic()
    assert len(cloudflare.zones()) == 2  # the 429 says retry after <= 2 s: we wait and succeed
    assert time.monotonic() - started >= 0.5
    sandbox.cloudflare.rate_limit(requests=1, window_seconds=600)
    with pytest.raises(CloudflareError, match=r"rate limited by Cloudflare; retry after \d+ s"):
        for _ in range(2):  # a listing costs two requests (the SDK asks for pages until one is empty)
            cloudflare.zones()


def test_our_own_budget_spaces_requests_before_cloudflare_would_refuse(sandbox):
    env = sandbox.env()
    budget = RequestBudget(requests=2, per_seconds=1, max_wait=5)
    client = CloudflareDns(env["CLOUDFLARE_API_TOKEN"], base_url=env["CLOUDFLARE_BASE_URL"], budget=budget)
    started = time.monotonic()
    for _ in range(3):
        client.zones()
    assert time.monotonic() - started >= 0.9  # the third call waited for the window
    tight = RequestBudget(requests=2, per_seconds=60, max_wait=0.5)  # one listing: a page and the empty page
    limited = CloudflareDns(env["CLOUDFLARE_API_TOKEN"], base_url=env["CLOUDFLARE_BASE_URL"], budget=tight)
    limited.zones()
    with pytest.raises(CloudflareError, match=r"our own budget of 2 requests per 60 s is spent"):
        limited.zones()
