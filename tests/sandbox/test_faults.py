"""Fault injection: what a client sees when a simulator is told to misbehave, and the admin endpoint that tells it.

Latency is shown the way a client meets it (a request with a shorter timeout times out), never by timing assertions.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable

import cloudflare
import httpx
import pytest
import requests
from cloudflare import Cloudflare
from pydantic import ValidationError

from sandbox.cloudflare import CloudflareSimulator, zone_id
from sandbox.faults import ADMIN_PATH, REQUESTS_PATH, FaultInjector, FaultSettings
from tests.sandbox.conftest import serve_wsgi

Http = Callable[..., requests.Response]
COM = zone_id("example.com")


def admin(base_url: str, method: str, **kwargs: object) -> requests.Response:
    return requests.request(method, f"{base_url}{ADMIN_PATH}", timeout=10, **kwargs)


def statuses(base_url: str, count: int, path: str = "/things") -> list[int]:
    return [requests.get(f"{base_url}{path}", timeout=10).status_code for _ in range(count)]


# -- the admin endpoint --------------------------------------------------------------------------------------------
def test_admin_endpoint_shows_everything_off_by_default(faults_server: str) -> None:
    state = admin(faults_server, "GET").json()

    assert state["name"] == "echo"
    assert state["settings"] == FaultSettings().model_dump()
    assert state["settings"]["error_statuses"] == [500, 502, 503]
    assert statuses(faults_server, 5) == [200] * 5


def test_admin_post_sets_fields_and_keeps_the_others(faults_server: str, faults_injector: FaultInjector) -> None:
    first = admin(faults_server, "POST", json={"latency_ms": 5, "path_contains": "/nowhere"})
    second = admin(faults_server, "POST", json={"error_rate": 1.0, "error_statuses": [502]})

    assert first.status_code == 200 and second.status_code == 200
    assert second.json()["settings"]["latency_ms"] == 5  # POST merges
    assert faults_injector.settings.error_statuses == [502] and faults_injector.settings.path_contains == "/nowhere"


@pytest.mark.parametrize(
    "body",
    [
        {"error_rate": 1.5},
        {"reset_rate": -0.1},
        {"latency_ms": -1},
        {"error_statuses": [200]},
        {"error_statuses": []},
        {"storm_429_seconds": "soon"},
        {"explode": True},
    ],
)
def test_admin_refuses_bad_fields_with_422_and_changes_nothing(
    faults_server: str, faults_injector: FaultInjector, body: dict
) -> None:
    admin(faults_server, "POST", json={"latency_ms": 7})

    refused = admin(faults_server, "POST", json=body)

    assert refused.status_code == 422
    assert refused.json()["problems"][0]["field"] == next(iter(body))
    assert faults_injector.settings == FaultSettings(latency_ms=7)


def test_admin_malformed_json_wrong_shape_and_wrong_method(faults_server: str) -> None:
    broken = admin(faults_server, "POST", data=b"{not json", headers={"Content-Type": "application/json"})
    a_list = admin(faults_server, "POST", json=[1, 2])
    put = admin(faults_server, "PUT", json={})

    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]
    assert a_list.status_code == 422
    assert put.status_code == 405 and put.headers["Allow"] == "GET, POST, DELETE"


def test_admin_delete_clears_every_fault(faults_server: str) -> None:
    admin(faults_server, "POST", json={"error_rate": 1.0})
    assert statuses(faults_server, 2) != [200, 200]

    cleared = admin(faults_server, "DELETE")

    assert cleared.json()["settings"] == FaultSettings().model_dump()
    assert statuses(faults_server, 3) == [200] * 3


def test_admin_endpoint_itself_is_never_faulted(faults_server: str) -> None:
    admin(faults_server, "POST", json={"error_rate": 1.0, "storm_429_seconds": 60})

    assert admin(faults_server, "GET").status_code == 200
    assert admin(faults_server, "GET").json()["requests_since_configured"] == 0


def test_configure_from_python_validates_and_keeps_state_on_error(faults_injector: FaultInjector) -> None:
    faults_injector.configure(jitter_ms=3)

    with pytest.raises(ValidationError):
        faults_injector.configure(error_rate=2)
    with pytest.raises(ValidationError):
        faults_injector.configure(no_such_fault=1)

    assert faults_injector.settings == FaultSettings(jitter_ms=3)
    faults_injector.clear()
    assert faults_injector.settings == FaultSettings()


# -- error statuses ------------------------------------------------------------------------------------------------
def test_error_rate_one_answers_the_configured_statuses(faults_server: str, faults_injector: FaultInjector) -> None:
    faults_injector.configure(error_rate=1.0, error_statuses=[503])

    response = requests.get(f"{faults_server}/things", timeout=10)

    assert response.status_code == 503
    assert response.text == "503 Service Unavailable\n"  # no error_body given: a proxy-style plain body


def test_error_rate_with_a_seed_is_a_repeatable_mix(faults_server: str, faults_injector: FaultInjector) -> None:
    faults_injector.configure(error_rate=0.5, jitter_ms=1, seed=7)
    first_run = statuses(faults_server, 40)
    faults_injector.configure(seed=7)  # reconfiguring restarts the random sequence
    second_run = statuses(faults_server, 40)

    counts = Counter(first_run)
    assert first_run == second_run
    assert counts[200] > 0 and sum(counts[s] for s in (500, 502, 503)) > 0
    assert set(counts) <= {200, 500, 502, 503}


def test_cloudflare_errors_come_in_the_cloudflare_envelope(
    cloudflare_sim: CloudflareSimulator, cloudflare_client: Cloudflare
) -> None:
    cloudflare_sim.faults.configure(error_rate=1.0, error_statuses=[502])

    with pytest.raises(cloudflare.InternalServerError) as failed:
        list(cloudflare_client.zones.list())

    assert failed.value.status_code == 502
    assert failed.value.body["success"] is False and failed.value.body["errors"][0]["code"] == 502


# -- connection resets ------------------------------------------------------------------------------------------------
def test_reset_rate_makes_requests_raise_connection_error(faults_server: str, faults_injector: FaultInjector) -> None:
    faults_injector.configure(reset_rate=1.0)

    with pytest.raises(requests.ConnectionError):
        requests.get(f"{faults_server}/things", timeout=10)
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{faults_server}/things", data=b"x" * 200_000, timeout=10)  # body left unread

    faults_injector.clear()
    assert statuses(faults_server, 3) == [200] * 3  # the server survived every reset


def test_reset_reaches_the_sdk_as_a_connection_error(
    cloudflare_sim: CloudflareSimulator, cloudflare_client: Cloudflare
) -> None:
    cloudflare_sim.faults.configure(reset_rate=1.0)

    with pytest.raises(cloudflare.APIConnectionError):
        cloudflare_client.zones.get(zone_id=COM)


# -- 429 storms ----------------------------------------------------------------------------------------------------
def test_storm_answers_429_with_retry_after(faults_server: str, faults_injector: FaultInjector) -> None:
    faults_injector.configure(storm_429_seconds=30)

    storm = [requests.get(f"{faults_server}/things", timeout=10) for _ in range(3)]

    assert [response.status_code for response in storm] == [429] * 3
    assert all(1 <= int(response.headers["Retry-After"]) <= 30 for response in storm)
    faults_injector.clear()
    assert statuses(faults_server, 1) == [200]


def test_storm_reaches_the_sdk_as_rate_limit_error(
    cloudflare_sim: CloudflareSimulator, cloudflare_client: Cloudflare
) -> None:
    cloudflare_sim.faults.configure(storm_429_seconds=120)

    with pytest.raises(cloudflare.RateLimitError) as limited:
        cloudflare_client.zones.get(zone_id=COM)

    assert int(limited.value.response.headers["retry-after"]) > 60  # more than the SDK will wait for by itself
    assert "Please wait and consider throttling" in limited.value.body["errors"][0]["message"]


# -- latency and slow pages ------------------------------------------------------------------------------------------
def test_latency_makes_a_short_timeout_expire(faults_server: str, faults_injector: FaultInjector) -> None:
    assert requests.get(f"{faults_server}/things", timeout=1.0).status_code == 200
    faults_injector.configure(latency_ms=2500)

    with pytest.raises(requests.ReadTimeout):
        requests.get(f"{faults_server}/things", timeout=1.0)


def test_slow_pages_only_slow_later_pages(faults_server: str, faults_injector: FaultInjector) -> None:
    faults_injector.configure(slow_page_ms=2500)

    first_page = requests.get(f"{faults_server}/things", params={"page": 1}, timeout=1.0)
    first_offset = requests.get(f"{faults_server}/things", params={"offset": 0, "limit": 100}, timeout=1.0)
    with pytest.raises(requests.ReadTimeout):
        requests.get(f"{faults_server}/things", params={"page": 2}, timeout=1.0)
    with pytest.raises(requests.ReadTimeout):
        requests.get(f"{faults_server}/things", params={"offset": 100, "limit": 100}, timeout=1.0)

    assert first_page.status_code == 200 and first_offset.status_code == 200


def test_slow_pages_time_out_the_sdk_mid_listing(
    cloudflare_sim: CloudflareSimulator, cloudflare_client: Cloudflare
) -> None:
    cloudflare_sim.faults.configure(slow_page_ms=2500)
    impatient = cloudflare_client.with_options(timeout=httpx.Timeout(1.0), max_retries=0)

    seen: list[str] = []
    with pytest.raises(cloudflare.APITimeoutError):
        for record in impatient.dns.records.list(zone_id=COM, per_page=500):
            seen.append(record.id)

    assert len(seen) == 500  # the first page arrived, the second never did


# -- after_requests and path filter -----------------------------------------------------------------------------------
def test_after_requests_lets_n_requests_through_first(faults_server: str, faults_injector: FaultInjector) -> None:
    faults_injector.configure(error_rate=1.0, error_statuses=[500], after_requests=3)

    assert statuses(faults_server, 5) == [200, 200, 200, 500, 500]
    assert admin(faults_server, "GET").json()["requests_since_configured"] == 5


def test_a_source_fails_in_the_middle_of_a_pagination(
    cloudflare_sim: CloudflareSimulator, cloudflare_client: Cloudflare
) -> None:
    cloudflare_sim.faults.configure(
        error_rate=1.0, error_statuses=[503], after_requests=3, path_contains="/dns_records"
    )

    zones = list(cloudflare_client.zones.list())  # not matching the path: untouched, not counted
    seen: list[str] = []
    with pytest.raises(cloudflare.InternalServerError) as failed:
        for record in cloudflare_client.dns.records.list(zone_id=COM, per_page=100):
            seen.append(record.id)

    assert len(zones) == 25
    assert len(seen) == 300 and failed.value.status_code == 503


def test_path_filter_spares_other_paths(faults_server: str, faults_injector: FaultInjector) -> None:
    faults_injector.configure(error_rate=1.0, path_contains="/broken")

    assert statuses(faults_server, 2, path="/fine") == [200, 200]
    assert statuses(faults_server, 2, path="/broken/thing") != [200, 200]


# -- apply then fail, and churn ---------------------------------------------------------------------------------------
class _Ledger:
    """A stand-in service that remembers every write it applied, so a test sees the effect behind a lost answer."""

    def __init__(self) -> None:
        self.writes: list[str] = []

    def __call__(self, environ: dict, start_response: Callable) -> list[bytes]:
        if environ["REQUEST_METHOD"] != "GET":
            self.writes.append(environ["PATH_INFO"])
        body = json.dumps({"writes": self.writes}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


def test_apply_then_fail_keeps_the_write_and_loses_the_answer() -> None:
    ledger = _Ledger()
    injector = FaultInjector(ledger, "ledger")
    injector.configure(apply_then_fail_rate=1.0, error_statuses=[503])
    with serve_wsgi(injector) as base_url:
        lost = requests.post(f"{base_url}/records", timeout=10)
        read = requests.get(f"{base_url}/records", timeout=10)  # reads pass: only writes lose their answer

    assert lost.status_code == 503
    assert ledger.writes == ["/records"]
    assert read.status_code == 200 and read.json() == {"writes": ["/records"]}


def test_apply_then_fail_can_lose_the_answer_as_a_reset() -> None:
    ledger = _Ledger()
    injector = FaultInjector(ledger, "ledger")
    injector.configure(apply_then_fail_rate=1.0, apply_then_fail_reset=True)
    with serve_wsgi(injector) as base_url:
        with pytest.raises(requests.ConnectionError):
            requests.patch(f"{base_url}/records/1", timeout=10)
        assert requests.get(f"{base_url}/records", timeout=10).status_code == 200

    assert ledger.writes == ["/records/1"]


def test_apply_then_fail_is_validated_and_switched_over_http(faults_server: str) -> None:
    refused = admin(faults_server, "POST", json={"apply_then_fail_methods": ["BREW"]})
    accepted = admin(faults_server, "POST", json={"apply_then_fail_rate": 0.5, "apply_then_fail_methods": ["put"]})

    assert refused.status_code == 422 and "BREW" in refused.text
    assert accepted.json()["settings"]["apply_then_fail_methods"] == ["PUT"]


def test_churn_changes_state_between_requests_at_the_configured_rate() -> None:
    changes: list[float] = []
    injector = FaultInjector(_Ledger(), "ledger", churn=lambda rng: changes.append(rng.random()))
    with serve_wsgi(injector) as base_url:
        requests.get(f"{base_url}/x", timeout=10)
        assert changes == []  # off by default
        injector.configure(churn_per_second=10_000, seed=3)
        threading.Event().wait(0.05)
        requests.get(f"{base_url}/x", timeout=10)
        state = admin(base_url, "GET").json()

    assert len(changes) >= 100  # at least 0.05 s x 10,000/s, drawn between two requests
    assert state["churned"] == len(changes)


def test_request_counts_by_path_and_reset(faults_server: str, faults_injector: FaultInjector) -> None:
    requests.delete(f"{faults_server}{REQUESTS_PATH}", timeout=5)
    for _ in range(3):
        requests.get(f"{faults_server}/client/v4/zones", timeout=5)
    requests.get(f"{faults_server}/client/v4/zones?page=2", timeout=5)
    requests.get(f"{faults_server}{ADMIN_PATH}", timeout=5)  # the admin endpoints are not counted
    counts = requests.get(f"{faults_server}{REQUESTS_PATH}", timeout=5).json()
    assert counts["by_path"] == {"GET /client/v4/zones": 4}
    assert counts["total"] == 4 == faults_injector.request_counts()["total"]
    assert requests.post(f"{faults_server}{REQUESTS_PATH}", timeout=5).status_code == 405
    assert requests.delete(f"{faults_server}{REQUESTS_PATH}", timeout=5).json()["total"] == 0


def test_moto_counts_its_requests_and_takes_latency_through_the_control_endpoint(sandbox) -> None:
    """AWS is served by moto behind the same injector: counted at /__sandbox/requests, slowed through /faults/aws."""
    import time

    import boto3

    control = sandbox.env()["SANDBOX_CONTROL_URL"]
    ec2 = boto3.client("ec2", endpoint_url=sandbox.moto_url, region_name=sandbox.aws.regions[0],
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    requests.delete(f"{sandbox.moto_url}{REQUESTS_PATH}", timeout=5)
    ec2.describe_instances()
    ec2.describe_instances()
    counts = requests.get(f"{sandbox.moto_url}{REQUESTS_PATH}", timeout=5).json()
    assert counts["name"] == "aws" and counts["total"] == 2 == sum(counts["by_path"].values())
    answer = requests.post(f"{control}/faults/aws", json={"latency_ms": 300}, timeout=5)
    assert answer.status_code == 200 and answer.json()["settings"]["latency_ms"] == 300
    started = time.monotonic()
    ec2.describe_instances()
    assert time.monotonic() - started >= 0.3
    sandbox.reset()
    assert sandbox.aws.faults.settings.latency_ms == 0  # a reset clears moto's faults like every simulator's
