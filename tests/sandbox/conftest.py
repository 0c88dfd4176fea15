"""Fixtures for the sandbox simulators' own tests. Engineers append their section; nobody rewrites another's.

Every simulator runs as a real HTTP server (werkzeug `make_server`) on a free loopback port in a daemon thread.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from cloudflare import Cloudflare
from werkzeug.serving import make_server

from sandbox.cloudflare import CloudflareSimulator
from sandbox.faults import FaultInjector
from sandbox.scenario import RecordSpec, Scenario, parse


@contextlib.contextmanager
def serve_wsgi(wsgi_app: Callable[..., Any]) -> Iterator[str]:
    """Serve a WSGI app on 127.0.0.1 at a free port; yields its base URL and stops it afterwards."""
    server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
    # A short poll interval: shutdown() waits for the serve loop to notice, 0.5 s by default on every teardown.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


# -- Cloudflare simulator (Cloudflare engineer) ---------------------------------------------------------------------
CLOUDFLARE_TOKEN = "cf-test-token-0123456789abcdefghijABCDEFGHIJ"
CLOUDFLARE_BIG_ZONE_RECORDS = 1_234
CLOUDFLARE_FILLER_ZONES = 22  # with the three named zones: 25 zones, more than one page of 20


def cloudflare_resolve_content(spec: RecordSpec) -> str:
    """Fixed stand-ins for what the AWS simulator would answer: instance IPs and load balancer DNS names."""
    instances = {"web-1": "203.0.113.10", "web-2": "203.0.113.11"}
    balancers = {"lb-prod": "lb-prod-1234567890.us-east-1.elb.amazonaws.com"}
    if spec.instance is not None:
        return instances[spec.instance]
    if spec.load_balancer is not None:
        return balancers[spec.load_balancer]
    raise AssertionError(f"record {spec.name} has literal content; resolve_content should not be asked")


def cloudflare_scenario_document() -> dict[str, Any]:
    """A small deterministic scenario: one big zone (several pages of records), two small ones, filler zones."""
    big_zone = [
        {"name": f"h{index:04d}.example.com", "content": f"10.{index // 65536}.{index // 256 % 256}.{index % 256}"}
        for index in range(CLOUDFLARE_BIG_ZONE_RECORDS - 4)
    ] + [
        {"name": "www.example.com", "type": "CNAME", "load_balancer": "lb-prod"},
        {"name": "example.com", "type": "MX", "content": "10 mail.example.com"},
        {"name": "example.com", "type": "TXT", "content": "v=spf1 -all", "comment": "mail policy"},
        {"name": "app.example.com", "instance": "web-1", "proxied": True},
    ]
    return {
        "name": "cloudflare-contract",
        "panel_user": {"username": "panel", "password": "panel-password", "admin": True},
        "regions": [
            {"name": "us", "aws_region": "us-east-1", "timezone": "America/New_York", "clusters": [{"name": "prod"}]}
        ],
        "instances": [{"name": "web-1", "aws_region": "us-east-1"}, {"name": "web-2", "aws_region": "us-east-1"}],
        "load_balancers": [{"name": "lb-prod", "aws_region": "us-east-1", "instances": ["web-1", "web-2"]}],
        "cloudflare": {"token": CLOUDFLARE_TOKEN},
        "zones": [
            {"name": "example.com", "records": big_zone},
            {
                "name": "example.org",
                "records": [
                    {"name": "web-1.example.org", "instance": "web-1"},
                    {"name": "web-2.example.org", "instance": "web-2", "ttl": 120},
                    {"name": "api.example.org", "type": "CNAME", "content": "web-1.example.org"},
                    {"name": "v6.example.org", "type": "AAAA", "content": "2001:db8::10"},
                    {"name": "dangling.example.org", "content": "198.51.100.77", "comment": "points at nothing"},
                ],
            },
            {"name": "example.net", "plan": "enterprise", "records": []},
            *({"name": f"filler-{index:02d}.test", "records": []} for index in range(CLOUDFLARE_FILLER_ZONES)),
        ],
    }


@pytest.fixture(scope="session")
def cloudflare_scenario() -> Scenario:
    return parse(cloudflare_scenario_document(), source="cloudflare contract scenario")


@pytest.fixture(scope="session")
def cloudflare_session_simulator(cloudflare_scenario: Scenario) -> CloudflareSimulator:
    return CloudflareSimulator(cloudflare_scenario, cloudflare_resolve_content)


@pytest.fixture(scope="session")
def cloudflare_session_server(cloudflare_session_simulator: CloudflareSimulator) -> Iterator[str]:
    with serve_wsgi(cloudflare_session_simulator.wsgi_app) as base_url:
        yield base_url


@pytest.fixture
def cloudflare_sim(
    cloudflare_session_simulator: CloudflareSimulator, cloudflare_scenario: Scenario
) -> CloudflareSimulator:
    """The simulator, reseeded from the scenario for this test (records, rate limit and faults all fresh)."""
    cloudflare_session_simulator.reset(cloudflare_scenario, cloudflare_resolve_content)
    return cloudflare_session_simulator


@pytest.fixture
def cloudflare_base_url(cloudflare_sim: CloudflareSimulator, cloudflare_session_server: str) -> str:
    """`CLOUDFLARE_BASE_URL` as the panel would get it: ends in /client/v4."""
    return f"{cloudflare_session_server}/client/v4"


@pytest.fixture(scope="session")
def cloudflare_session_client(cloudflare_session_server: str) -> Cloudflare:
    # Built once: each SDK client loads a TLS context, which costs more than a whole simulator reset.
    base_url = f"{cloudflare_session_server}/client/v4"
    return Cloudflare(api_token=CLOUDFLARE_TOKEN, base_url=base_url, max_retries=0, timeout=10.0)


@pytest.fixture
def cloudflare_client(cloudflare_sim: CloudflareSimulator, cloudflare_session_client: Cloudflare) -> Cloudflare:
    """The official SDK pointed at the simulator; no retries, so each error surfaces on the first answer."""
    return cloudflare_session_client


@pytest.fixture
def cloudflare_http(cloudflare_base_url: str) -> Callable[..., requests.Response]:
    """Raw HTTP against the simulator with `requests`: call(method, path, token=..., **requests kwargs)."""

    def call(method: str, path: str, token: str | None = CLOUDFLARE_TOKEN, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers.setdefault("Authorization", f"Bearer {token}")
        return requests.request(method, f"{cloudflare_base_url}{path}", headers=headers, timeout=10, **kwargs)

    return call


# -- fault injection (Cloudflare engineer) --------------------------------------------------------------------------
def _faults_echo_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """A stand-in service: answers 200 with the path and query it received."""
    body = json.dumps({"path": environ.get("PATH_INFO", ""), "query": environ.get("QUERY_STRING", "")}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture
def faults_injector() -> FaultInjector:
    """A FaultInjector around a tiny echo service, with no error_body (so the default plain bodies are used)."""
    return FaultInjector(_faults_echo_app, "echo")


@pytest.fixture
def faults_server(faults_injector: FaultInjector) -> Iterator[str]:
    with serve_wsgi(faults_injector) as base_url:
        yield base_url
