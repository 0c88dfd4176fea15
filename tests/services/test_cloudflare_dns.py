"""The Cloudflare client (official SDK) against the simulator: paging, writes that survive lost answers, PATCH
semantics, errors in Cloudflare's words, and the request budget that counts every HTTP request."""
from __future__ import annotations

import json
import time
import uuid
from urllib.parse import parse_qs
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app.queues import redis_url
from app.services import cloudflare_dns
from app.services.cloudflare_dns import (BudgetSpent, CloudflareDns, CloudflareError, InconsistentListing,
                                         RequestBudget)
from tests.sandbox.conftest import serve_wsgi


@pytest.fixture
def cloudflare(sandbox) -> CloudflareDns:
    env = sandbox.env()
    return CloudflareDns(env["CLOUDFLARE_API_TOKEN"], base_url=env["CLOUDFLARE_BASE_URL"])


@pytest.fixture
def zones(cloudflare) -> dict:
    return {zone.name: zone for zone in cloudflare.zones()}


def named(sandbox, zone: str, name: str) -> list[dict[str, Any]]:
    return [record for record in sandbox.cloudflare.records(zone) if record["name"] == name]


def writes(sandbox, method: str) -> list[dict[str, Any]]:
    return [entry for entry in sandbox.cloudflare.write_log if entry["method"] == method]


@pytest.fixture
def redis_budget(app) -> Callable[..., RequestBudget]:
    """Budgets kept in the suite's real Redis under a key of their own, as the panel's processes share them."""
    url = redis_url()
    storage = "redis+unix://" + url.removeprefix("unix://") if url.startswith("unix://") else url
    key = f"cloudflare-test-{uuid.uuid4().hex}"

    def make(requests: int = 800, per_seconds: int = 300) -> RequestBudget:
        return RequestBudget(requests, per_seconds, storage_uri=storage, key=key, max_wait=5)

    return make


def test_lists_zones_and_records_and_writes_records(cloudflare, zones, sandbox):
    assert set(zones) == {"example.com", "example.net"}
    records = cloudflare.records(zones["example.net"])
    assert {r.name for r in records} >= {"eu-prod-deis-1.example.net", "old-build.example.net"}
    assert all(isinstance(r.ttl, int) for r in records)

    created = cloudflare.create_record(zones["example.net"], name="new.example.net", type="A", content="10.9.9.9",
                                       ttl=300, comment="made by a test")
    assert [r.content for r in cloudflare.find_records(zones["example.net"], "new.example.net", "A")] == ["10.9.9.9"]
    cloudflare.update_record(zones["example.net"], created.cf_id, content="10.9.9.10")
    assert [r["content"] for r in named(sandbox, "example.net", "new.example.net")] == ["10.9.9.10"]
    cloudflare.delete_record(zones["example.net"], created.cf_id)
    assert cloudflare.find_records(zones["example.net"], "new.example.net") == []


# -- writes whose answer is lost -------------------------------------------------------------------------------------
@pytest.mark.parametrize("reset", [False, True], ids=["5xx", "reset"])
def test_a_create_whose_answer_is_lost_creates_exactly_one_record(cloudflare, zones, sandbox, reset):
    sandbox.cloudflare.faults.configure(apply_then_fail_rate=1.0, apply_then_fail_reset=reset, error_statuses=[502])

    created = cloudflare.create_record(zones["example.net"], name="lost.example.net", type="A", content="10.7.7.7",
                                       ttl=300)

    assert created.content == "10.7.7.7" and created.name == "lost.example.net"
    [record] = named(sandbox, "example.net", "lost.example.net")
    assert record["id"] == created.cf_id
    assert len(writes(sandbox, "POST")) == 1  # read back instead of sent again


@pytest.mark.parametrize("reset", [False, True], ids=["5xx", "reset"])
def test_an_update_whose_answer_is_lost_reports_success_after_reading_back(cloudflare, zones, sandbox, reset):
    record = cloudflare.find_records(zones["example.net"], "old-build.example.net", "A")[0]
    sandbox.cloudflare.faults.configure(apply_then_fail_rate=1.0, apply_then_fail_reset=reset)

    updated = cloudflare.update_record(zones["example.net"], record.cf_id, content="198.51.100.99")

    assert updated.content == "198.51.100.99" and updated.cf_id == record.cf_id
    assert [r["content"] for r in named(sandbox, "example.net", "old-build.example.net")] == ["198.51.100.99"]
    assert len(writes(sandbox, "PATCH")) == 1


@pytest.mark.parametrize("reset", [False, True], ids=["5xx", "reset"])
def test_a_delete_whose_answer_is_lost_reports_success(cloudflare, zones, sandbox, reset):
    record = cloudflare.find_records(zones["example.net"], "old-build.example.net", "A")[0]
    sandbox.cloudflare.faults.configure(apply_then_fail_rate=1.0, apply_then_fail_reset=reset)

    cloudflare.delete_record(zones["example.net"], record.cf_id)

    assert named(sandbox, "example.net", "old-build.example.net") == []
    assert len(writes(sandbox, "DELETE")) == 1


def test_deleting_a_record_that_is_gone_already_is_done(cloudflare, zones, sandbox):
    record = cloudflare.find_records(zones["example.net"], "old-build.example.net", "A")[0]
    sandbox.cloudflare.remove_record("example.net", record.cf_id)  # someone else was quicker
    cloudflare.delete_record(zones["example.net"], record.cf_id)
    with pytest.raises(CloudflareError, match=r"HTTP 404: 7003: Could not route"):
        cloudflare.delete_record(cloudflare_dns.CloudflareZone(cf_id="0" * 32, name="nowhere.test"), record.cf_id)


class FailFirstWrites:
    """Answers the first `count` writes with a 502 *without* handling them (a proxy refusing): nothing applied."""

    def __init__(self, wsgi_app, count: int) -> None:
        self.wsgi_app, self.left = wsgi_app, count

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] != "GET" and self.left > 0:
            self.left -= 1
            start_response("502 Bad Gateway", [("Content-Type", "text/plain")])
            return [b"502 Bad Gateway\n"]
        return self.wsgi_app(environ, start_response)


@pytest.fixture
def failing_writes(sandbox) -> Iterator[Callable[[int], CloudflareDns]]:
    servers = []

    def client(count: int) -> CloudflareDns:
        server = serve_wsgi(FailFirstWrites(sandbox.cloudflare.wsgi_app, count))
        servers.append(server)
        base = server.__enter__()
        return CloudflareDns(sandbox.env()["CLOUDFLARE_API_TOKEN"], base_url=f"{base}/client/v4")

    yield client
    for server in servers:
        server.__exit__(None, None, None)


def test_a_create_that_did_not_apply_is_sent_again_after_reading_back(failing_writes, sandbox):
    client = failing_writes(1)
    zone = next(zone for zone in client.zones() if zone.name == "example.net")

    client.create_record(zone, name="retried.example.net", type="A", content="10.6.6.6", ttl=300)

    assert len(named(sandbox, "example.net", "retried.example.net")) == 1
    assert len(writes(sandbox, "POST")) == 1  # the refused attempt never reached Cloudflare


def test_a_create_that_never_applies_is_reported_and_creates_nothing(failing_writes, sandbox):
    client = failing_writes(10)
    zone = next(zone for zone in client.zones() if zone.name == "example.net")

    with pytest.raises(CloudflareError, match=r"create A never\.example\.net failed: HTTP 502: .*not applied"):
        client.create_record(zone, name="never.example.net", type="A", content="10.6.6.7", ttl=300)

    assert named(sandbox, "example.net", "never.example.net") == []


# -- PATCH -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ttl, proxied", [(120, False), (1, True)])
def test_a_content_only_update_keeps_ttl_proxied_comment_and_tags(cloudflare, zones, sandbox, ttl, proxied):
    created = cloudflare.create_record(zones["example.com"], name="keep.example.com", type="A", content="10.1.1.1",
                                       ttl=ttl, proxied=proxied, comment="kept by PATCH", tags=["owner:ops"])

    cloudflare.update_record(zones["example.com"], created.cf_id, content="10.1.1.2")

    [record] = named(sandbox, "example.com", "keep.example.com")
    assert record["content"] == "10.1.1.2"
    assert (record["ttl"], record["proxied"], record["comment"], record["tags"]) == (
        ttl, proxied, "kept by PATCH", ["owner:ops"])
    patch = writes(sandbox, "PATCH")[-1]
    assert patch["path"].endswith(f"/dns_records/{created.cf_id}") and patch["body"] == {"content": "10.1.1.2"}


def test_an_update_of_a_vanished_record_says_so(cloudflare, zones, sandbox):
    record = cloudflare.find_records(zones["example.net"], "old-build.example.net", "A")[0]
    sandbox.cloudflare.remove_record("example.net", record.cf_id)
    with pytest.raises(CloudflareError, match=r"HTTP 404: 81044: Record does not exist"):
        cloudflare.update_record(zones["example.net"], record.cf_id, content="10.0.0.9")


# -- errors ----------------------------------------------------------------------------------------------------------
def test_errors_are_cloudflares_words_with_their_error_chain(cloudflare, zones, sandbox):
    with pytest.raises(CloudflareError, match=r"create A bad.example.net failed: HTTP 400: 9005: .*IPv4"):
        cloudflare.create_record(zones["example.net"], name="bad.example.net", type="A", content="not-an-ip",
                                 ttl=300)
    with pytest.raises(CloudflareError) as short_ttl:
        cloudflare.create_record(zones["example.net"], name="bad.example.net", type="A", content="10.0.0.1", ttl=5)
    assert str(short_ttl.value) == (
        "Cloudflare: create A bad.example.net failed: HTTP 400: 1004: DNS Validation Error "
        "(9021: TTL must be between 60 and 86400 seconds, or 1 for Automatic.)")
    wrong = CloudflareDns("wrong-token", base_url=sandbox.env()["CLOUDFLARE_BASE_URL"])
    with pytest.raises(CloudflareError, match=r"list zones failed: HTTP 401"):
        wrong.zones()
    assert named(sandbox, "example.net", "bad.example.net") == []


# -- rate limits and our budget --------------------------------------------------------------------------------------
def test_short_429_is_waited_out_and_a_long_one_fails_clearly(sandbox, cloudflare):
    sandbox.cloudflare.rate_limit(requests=3, window_seconds=2)
    for _ in range(3):
        cloudflare.zones()  # spends the simulator's budget (one request each: the totals say one page is all)
    started = time.monotonic()
    assert len(cloudflare.zones()) == 2  # the 429 says retry after <= 2 s: we wait and succeed
    assert time.monotonic() - started >= 0.5
    sandbox.cloudflare.rate_limit(requests=1, window_seconds=600)
    with pytest.raises(CloudflareError, match=r"rate limited by Cloudflare; retry after \d+ s"):
        for _ in range(2):
            cloudflare.zones()


def test_our_own_budget_spaces_requests_before_cloudflare_would_refuse(sandbox):
    env = sandbox.env()
    budget = RequestBudget(requests=2, per_seconds=1, max_wait=5)
    client = CloudflareDns(env["CLOUDFLARE_API_TOKEN"], base_url=env["CLOUDFLARE_BASE_URL"], budget=budget)
    started = time.monotonic()
    for _ in range(3):
        client.zones()
    assert time.monotonic() - started >= 0.9  # the third call waited for the window
    tight = RequestBudget(requests=1, per_seconds=60, max_wait=0.5)
    limited = CloudflareDns(env["CLOUDFLARE_API_TOKEN"], base_url=env["CLOUDFLARE_BASE_URL"], budget=tight)
    limited.zones()
    seen = sandbox.cloudflare.faults.state()["requests_since_configured"]
    with pytest.raises(CloudflareError, match=r"list zones failed: our own budget of 1 requests per 60 s is spent"):
        limited.zones()
    assert sandbox.cloudflare.faults.state()["requests_since_configured"] == seen  # nothing was sent


def test_the_budget_counts_every_http_request_the_sdk_sends_its_retries_included(sandbox, redis_budget):
    env = sandbox.env()
    budget = redis_budget()
    client = CloudflareDns(env["CLOUDFLARE_API_TOKEN"], base_url=env["CLOUDFLARE_BASE_URL"], budget=budget,
                           max_retries=5)
    # Half of the answers are 5xx (a fixed, repeatable mix), the rest a short 429 storm: the SDK retries reads.
    sandbox.cloudflare.faults.configure(error_rate=0.5, error_statuses=[500, 503], seed=11, storm_429_seconds=1)

    zones = client.zones()
    for zone in zones:
        client.records(zone)

    seen = sandbox.cloudflare.faults.state()["requests_since_configured"]
    assert seen > 1 + len(zones)  # retries happened: more requests than listings
    assert budget.spent() == seen == client.calls


def test_the_budget_is_shared_by_every_client_of_the_same_store(sandbox, redis_budget):
    env = sandbox.env()
    first = CloudflareDns(env["CLOUDFLARE_API_TOKEN"], base_url=env["CLOUDFLARE_BASE_URL"], budget=redis_budget())
    second = CloudflareDns(env["CLOUDFLARE_API_TOKEN"], base_url=env["CLOUDFLARE_BASE_URL"], budget=redis_budget())
    first.zones()
    second.zones()
    second.zones()
    assert redis_budget().spent() == 3 == first.calls + second.calls


def test_the_panels_default_budget_is_800_requests_per_five_minutes(tmp_path):
    from app.clients import PlatformClients
    from app.config import Settings

    settings = Settings.from_env({"CLOUDFLARE_API_TOKEN": "token", "ADMIN_PANEL_INSTANCE_DIR": str(tmp_path)})
    budget = PlatformClients(settings).cloudflare().budget
    for _ in range(800):
        budget.take()
    assert budget.spent() == 800
    with pytest.raises(BudgetSpent, match=r"our own budget of 800 requests per 300 s is spent for the next \d+ s"):
        budget.take()  # the window frees a slot only in five minutes: more than the 60 s we may wait


# -- listings that change while they are read ------------------------------------------------------------------------
class ChangeAfterFirstPage:
    """After answering page 1 of a zone's records, deletes that page's first record and (`swap`) creates another:
    with the swap the total stays the same, and page-number paging skips a record that still exists."""

    def __init__(self, sandbox, zone: str, swap: bool = True, times: int = 1) -> None:
        self.sandbox, self.zone, self.swap, self.left = sandbox, zone, swap, times
        self.wsgi_app = sandbox.cloudflare.wsgi_app

    def __call__(self, environ, start_response):
        answer = b"".join(self.wsgi_app(environ, start_response))
        page = parse_qs(environ.get("QUERY_STRING", "")).get("page")
        if self.left > 0 and environ["PATH_INFO"].endswith("/dns_records") and page == ["1"]:
            first = json.loads(answer)["result"][0]
            self.sandbox.cloudflare.remove_record(self.zone, first["id"])
            if self.swap:
                self.sandbox.cloudflare.add_record(self.zone, type="TXT", name=f"swap-{self.left}", content="moved")
            self.left -= 1
        return [answer]


@pytest.fixture
def changing(sandbox, monkeypatch) -> Iterator[Callable[..., CloudflareDns]]:
    """A client whose listings of example.net change after page 1 (pages of 4 records: the zone has 14)."""
    monkeypatch.setattr(cloudflare_dns, "RECORDS_PER_PAGE", 4)
    servers = []

    def client(**change) -> CloudflareDns:
        server = serve_wsgi(ChangeAfterFirstPage(sandbox, "example.net", **change))
        servers.append(server)
        return CloudflareDns(sandbox.env()["CLOUDFLARE_API_TOKEN"], base_url=f"{server.__enter__()}/client/v4")

    yield client
    for server in servers:
        server.__exit__(None, None, None)


def zone_named(client: CloudflareDns, name: str):
    return next(zone for zone in client.zones() if zone.name == name)


def test_a_listing_that_shifts_between_pages_is_refused(changing, sandbox):
    client = changing(swap=True)
    zone = zone_named(client, "example.net")
    with pytest.raises(InconsistentListing, match=r"list records of example.net failed: the zone changed"):
        client.records(zone)
    # Nothing changes any more: the listing is whole, the record the shifted pages skipped included.
    assert {record.cf_id for record in client.records(zone)} == {
        record["id"] for record in sandbox.cloudflare.records("example.net")}


def test_a_listing_that_shrinks_between_pages_is_refused(changing):
    client = changing(swap=False)
    with pytest.raises(InconsistentListing, match=r"changed while it was read: 14 items on page 1, 13 on page 2"):
        client.records(zone_named(client, "example.net"))
