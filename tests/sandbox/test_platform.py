"""The sandbox runner: `python -m sandbox` as a real process answering the official SDKs, the control endpoint,
and the in-process `Sandbox` the fixtures use (env, reset, reseed)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import cloudflare
import pytest
import requests
import yaml
from cloudflare import Cloudflare

from sandbox.platform import Sandbox
from sandbox.scenario import SCENARIO_DIR, load

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90.0
ENV_KEYS = {
    "DEIS_CLUSTERS",
    "CLOUDFLARE_API_TOKEN",
    "CLOUDFLARE_BASE_URL",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "AWS_REGIONS",
    "SANDBOX_CONTROL_URL",
    "SANDBOX_DEIS_USERS",
}


def start_runner(env_file: Path, scenario: str = "test") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--scenario", scenario, "--env-file", str(env_file)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_env_file(process: subprocess.Popen[str], env_file: Path) -> dict[str, str]:
    deadline = time.monotonic() + START_TIMEOUT
    while not env_file.exists():
        if process.poll() is not None:
            raise AssertionError(f"the sandbox exited with {process.returncode}: {process.stderr.read()}")
        if time.monotonic() > deadline:
            raise AssertionError("the sandbox wrote no env file in time")
        time.sleep(0.1)
    return parse_env(env_file.read_text())


def parse_env(text: str) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in text.splitlines() if line.strip()]
    return {key: value for key, value in pairs}


def stop_runner(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=30)
    return process.returncode, stdout, stderr


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """`python -m sandbox --scenario test` as a subprocess; yields the env it wrote."""
    env_file = tmp_path_factory.mktemp("runner") / "sandbox.env"
    process = start_runner(env_file)
    try:
        yield wait_for_env_file(process, env_file)
    finally:
        if process.poll() is None:
            stop_runner(process)


def cloudflare_client(env: dict[str, str]) -> Cloudflare:
    return Cloudflare(
        api_token=env["CLOUDFLARE_API_TOKEN"], base_url=env["CLOUDFLARE_BASE_URL"], max_retries=0, timeout=10
    )


def zone_ids(cf: Cloudflare) -> dict[str, str]:
    return {zone.name: zone.id for zone in cf.zones.list()}


def record_named(cf: Cloudflare, zone_id: str, name: str) -> Any:
    (record,) = list(cf.dns.records.list(zone_id=zone_id, name={"exact": name}))
    return record


# -- the runner as a real process ------------------------------------------------------------------------------------
def test_runner_env_file_has_every_endpoint_and_credential(runner: dict[str, str]) -> None:
    assert ENV_KEYS <= set(runner)
    assert runner["CLOUDFLARE_BASE_URL"].endswith("/client/v4")
    assert runner["AWS_REGIONS"] == "eu-west-1,us-east-1"
    clusters = json.loads(runner["DEIS_CLUSTERS"])
    assert [c["name"] for c in clusters] == ["eu-prod", "us-prod", "us-mon"]
    for url in [c["url"] for c in clusters] + [runner["CLOUDFLARE_BASE_URL"], runner["AWS_ENDPOINT_URL"]]:
        assert url.startswith("http://127.0.0.1:")
    assert not clusters[0]["url"].endswith("/v2")
    users = json.loads(runner["SANDBOX_DEIS_USERS"])
    assert {(u["username"], u["admin"]) for u in users} == {
        ("admin-panel", True),
        ("alice", False),
        ("bob", False),
        ("carol", True),
    }
    assert len(users) == 4 * 3


def test_runner_answers_the_official_cloudflare_sdk(runner: dict[str, str]) -> None:
    cf = cloudflare_client(runner)
    zones = zone_ids(cf)
    assert set(zones) == {"example.net", "example.com"}
    # A small page size makes the SDK walk several pages until an empty one.
    records = list(cf.dns.records.list(zone_id=zones["example.net"], per_page=5))
    assert len(records) == 14
    by_name = {(r.name, r.type): r for r in records}
    assert by_name[("eu-prod-pg-1.example.net", "A")].content == "10.10.2.21"
    assert by_name[("eu-prod.example.net", "CNAME")].content.startswith("eu-prod-elb")
    assert by_name[("old-build.example.net", "A")].content == "198.51.100.23"


def test_runner_answers_boto3(runner: dict[str, str]) -> None:
    names = []
    for region in runner["AWS_REGIONS"].split(","):
        ec2 = boto3.client(
            "ec2",
            region_name=region,
            endpoint_url=runner["AWS_ENDPOINT_URL"],
            aws_access_key_id=runner["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=runner["AWS_SECRET_ACCESS_KEY"],
        )
        for page in ec2.get_paginator("describe_instances").paginate():
            for reservation in page["Reservations"]:
                for instance in reservation["Instances"]:
                    names.append({t["Key"]: t["Value"] for t in instance["Tags"]}["Name"])
    assert sorted(names) == sorted(instance.name for instance in load("test").instances)


def test_runner_lets_a_listed_user_into_deis(runner: dict[str, str]) -> None:
    clusters = {c["name"]: c for c in json.loads(runner["DEIS_CLUSTERS"])}
    alice = next(
        u for u in json.loads(runner["SANDBOX_DEIS_USERS"]) if u["username"] == "alice" and u["cluster"] == "eu-prod"
    )
    url = clusters["eu-prod"]["url"]
    whoami = requests.get(f"{url}/v2/auth/whoami", headers={"Authorization": f"token {alice['token']}"}, timeout=10)
    assert whoami.status_code == 200
    assert whoami.json()["username"] == "alice"
    assert whoami.headers["DEIS_API_VERSION"] == "2.3"
    login = requests.post(f"{url}/v2/auth/login/", json={"username": "alice", "password": "alice-password"}, timeout=10)
    assert login.status_code == 200
    assert login.json() == {"token": alice["token"]}
    panel = requests.get(
        f"{url}/v2/apps", headers={"Authorization": f"token {clusters['eu-prod']['token']}"}, timeout=10
    )
    assert {app["id"] for app in panel.json()["results"]} == {"shop", "billing", "blog", "reports"}


def test_runner_control_reset_restores_a_changed_record(runner: dict[str, str]) -> None:
    cf = cloudflare_client(runner)
    zone_id = zone_ids(cf)["example.net"]
    record = record_named(cf, zone_id, "eu-prod-deis-1.example.net")
    original = record.content
    cf.dns.records.update(record.id, zone_id=zone_id, name=record.name, type="A", content="192.0.2.10", ttl=120)
    assert record_named(cf, zone_id, "eu-prod-deis-1.example.net").content == "192.0.2.10"

    reset = requests.post(f"{runner['SANDBOX_CONTROL_URL']}/reset", timeout=30)
    assert reset.status_code == 200
    assert record_named(cf, zone_id, "eu-prod-deis-1.example.net").content == original


def test_runner_control_forwards_faults_and_reset_clears_them(runner: dict[str, str]) -> None:
    control = runner["SANDBOX_CONTROL_URL"]
    cf = cloudflare_client(runner)
    configured = requests.post(
        f"{control}/faults/cloudflare", json={"error_rate": 1.0, "error_statuses": [503]}, timeout=10
    )
    assert configured.status_code == 200
    assert configured.json()["settings"]["error_rate"] == 1.0
    with pytest.raises(cloudflare.InternalServerError):
        cf.zones.list()
    bad = requests.post(f"{control}/faults/deis:eu-prod", json={"error_rate": 7}, timeout=10)
    assert bad.status_code == 422
    assert requests.post(f"{control}/faults/moto", json={}, timeout=10).status_code == 404  # no such simulator
    assert requests.post(f"{control}/faults/aws", json={"latency_ms": 5}, timeout=10).status_code == 200

    assert requests.post(f"{control}/reset", timeout=30).status_code == 200
    assert set(zone_ids(cf)) == {"example.net", "example.com"}


def test_runner_control_get_gives_the_env_and_rejects_a_bad_reseed(runner: dict[str, str]) -> None:
    control = runner["SANDBOX_CONTROL_URL"]
    assert requests.get(control, timeout=10).json() == runner
    refused = requests.post(f"{control}/reseed", json={"scenario": "no-such-scenario"}, timeout=10)
    assert refused.status_code == 422
    assert "no-such-scenario" in refused.json()["error"]
    assert requests.post(f"{control}/reseed", data="not json", timeout=10).status_code == 400
    assert requests.get(control, timeout=10).json()["SANDBOX_SCENARIO"] == "test"


def test_runner_stops_on_sigterm_and_removes_its_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "nested" / "sandbox.env"
    process = start_runner(env_file)
    try:
        env = wait_for_env_file(process, env_file)
        assert oct(env_file.stat().st_mode & 0o777) == "0o600"
    finally:
        returncode, stdout, stderr = stop_runner(process)
    assert returncode == 0, stderr
    assert parse_env(stdout) == env  # the same KEY=value lines on stdout
    assert not env_file.exists()
    with pytest.raises(requests.ConnectionError):
        requests.get(env["SANDBOX_CONTROL_URL"], timeout=5)


def test_runner_refuses_a_bad_scenario_with_exit_code_2(tmp_path: Path) -> None:
    document = yaml.safe_load((SCENARIO_DIR / "test.yaml").read_text())
    document["apps"][0]["cluster"] = "atlantis"
    scenario_file = tmp_path / "bad.yaml"
    scenario_file.write_text(yaml.safe_dump(document))
    env_file = tmp_path / "sandbox.env"
    result = subprocess.run(
        [sys.executable, "-m", "sandbox", "--scenario", str(scenario_file), "--env-file", str(env_file)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "bad scenario" in lines[0] and "app shop: unknown cluster 'atlantis'" in lines[0]
    assert result.stdout == ""
    assert not env_file.exists()


# -- the in-process Sandbox the fixtures use -------------------------------------------------------------------------
def test_env_describes_every_cluster(sandbox: Sandbox) -> None:
    env = sandbox.env()
    assert ENV_KEYS <= set(env)
    (eu_prod,) = [c for c in json.loads(env["DEIS_CLUSTERS"]) if c["name"] == "eu-prod"]
    assert eu_prod == {
        "name": "eu-prod",
        "url": sandbox.deis_url("eu-prod"),
        "username": "admin-panel",
        "token": sandbox.deis["eu-prod"].token_for("admin-panel"),
        "region": "europe",
        "aws_region": "eu-west-1",
        "timezone": "Europe/Dublin",
        "backup_hour": 3,
        "kind": "production",
        "monitored_from": "us-mon",
        "load_balancer": "eu-prod-elb",
    }
    assert env["AWS_ENDPOINT_URL"] == sandbox.moto_url
    assert env["AWS_DEFAULT_REGION"] == "eu-west-1"


def test_reset_restores_a_changed_record_and_clears_faults(sandbox: Sandbox) -> None:
    cf = cloudflare_client(sandbox.env())
    zone_id = sandbox.cloudflare.zone_id("example.com")
    record = record_named(cf, zone_id, "api.example.com")
    cf.dns.records.delete(record.id, zone_id=zone_id)
    sandbox.cloudflare.faults.configure(error_rate=1.0)
    sandbox.reset()
    assert record_named(cf, zone_id, "api.example.com").content == sandbox.aws.load_balancer("us-prod-alb").dns_name


def test_reseed_switches_scenario_and_serves_new_clusters(sandbox: Sandbox) -> None:
    eu_prod_url = sandbox.deis_url("eu-prod")
    sandbox.reseed(load("demo"))
    clusters = {c["name"]: c for c in json.loads(sandbox.env()["DEIS_CLUSTERS"])}
    assert len(clusters) == 6
    assert sandbox.env()["AWS_REGIONS"] == "eu-central-1,us-east-1,ap-south-1"
    assert len(sandbox.cloudflare.records("platform-ops.net")) > 30
    # A cluster both scenarios have keeps its port and now holds the demo's apps.
    assert clusters["eu-prod"]["url"] == eu_prod_url
    apps = requests.get(
        f"{eu_prod_url}/v2/apps", headers={"Authorization": f"token {clusters['eu-prod']['token']}"}, timeout=10
    ).json()
    assert "storefront" in {app["id"] for app in apps["results"]}
    in_prod_url = clusters["in-prod"]["url"]
    assert requests.get(f"{in_prod_url}/healthz", timeout=10).status_code == 200

    sandbox.reseed(load("test"))
    assert sorted(sandbox.deis) == ["eu-prod", "us-mon", "us-prod"]
    with pytest.raises(requests.ConnectionError):  # in-prod is not in the test scenario: its server is gone
        requests.get(f"{in_prod_url}/healthz", timeout=5)
