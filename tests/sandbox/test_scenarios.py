"""The shipped scenarios load and have what the tests and the demo rely on; bad scenarios fail clearly; the
`large` generator builds valid scenarios of the asked size."""

from __future__ import annotations

import subprocess
import sys
from copy import deepcopy
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from sandbox.generate import generate_large
from sandbox.scenario import SCENARIO_DIR, ScenarioError, load, parse

ROOT = Path(__file__).resolve().parents[2]


def scenario_document() -> dict[str, Any]:
    """The test scenario as a plain document, to break on purpose."""
    return yaml.safe_load((SCENARIO_DIR / "test.yaml").read_text())


def test_test_scenario_has_every_case_the_suite_needs() -> None:
    scenario = load("test")
    assert [r.aws_region for r in scenario.regions] == ["eu-west-1", "us-east-1"]
    kinds = [c.kind for c in scenario.clusters]
    assert len(kinds) == 3 and kinds.count("monitoring") == 1
    assert len(scenario.apps) == 8
    assert any(key in app.config for app in scenario.apps for key in ("DATABASE_URL", "API_KEY"))
    assert {app.app_type for app in scenario.apps} >= {"web", "worker"}
    assert any(app.memory for app in scenario.apps) and any(app.domains for app in scenario.apps)
    expiries = sorted(cert.expires_in_days for cert in scenario.certificates)
    assert len(expiries) == 3 and expiries[0] < 0 and 0 < expiries[1] < 14
    for cluster in (c for c in scenario.clusters if c.kind == "production"):
        roles = {i.db_role for i in scenario.instances if i.cluster == cluster.name and i.role == "postgres"}
        assert roles == {"primary", "replica"}, cluster.name
    assert {lb.kind for lb in scenario.load_balancers} == {"classic", "v2"}
    assert len(scenario.zones) == 2
    records = [record for zone in scenario.zones for record in zone.records]
    assert any(r.type == "A" and r.instance for r in records)
    assert any(r.type == "CNAME" and r.load_balancer for r in records)
    app_domains = {d for app in scenario.apps for d in app.domains}
    assert app_domains <= {r.name for r in records}
    # Exactly one instance that no record names, and a record pointing at no instance of the scenario.
    named = {r.instance for r in records if r.instance}
    assert [i.name for i in scenario.instances if i.name not in named] == ["chef-1"]
    assert any(r.content == "198.51.100.23" for r in records)
    events = [event for instance in scenario.instances for event in instance.events]
    assert len(events) == 2 and sorted(e.completed for e in events) == [False, True]
    assert sorted(u.admin for u in scenario.users) == [False, False, True]


def test_demo_scenario_is_a_realistic_platform() -> None:
    scenario = load("demo")
    assert len(scenario.regions) == 3
    for region in scenario.regions:
        ZoneInfo(region.timezone)  # a real IANA zone, or this raises
    offsets = {datetime(2026, 1, 15, tzinfo=ZoneInfo(r.timezone)).utcoffset() for r in scenario.regions}
    assert len(offsets) == 3
    clusters = {c.name: c for c in scenario.clusters}
    assert len(clusters) == 6
    monitoring = {name for name, c in clusters.items() if c.kind == "monitoring"}
    assert len(monitoring) >= 2
    for cluster in clusters.values():
        if cluster.kind == "production":
            assert cluster.monitored_from in monitoring
            # Watched from outside: the monitoring cluster sits in another region.
            assert scenario.region_of(cluster.monitored_from).name != scenario.region_of(cluster.name).name
    assert len(scenario.apps) == 60
    assert len(scenario.zones) == 5
    assert sum(1 for cert in scenario.certificates if cert.expires_in_days < 14) >= 3
    assert sum(len(instance.events) for instance in scenario.instances) >= 3


def test_unknown_references_give_a_clear_scenario_error() -> None:
    document = scenario_document()
    document["apps"][0]["cluster"] = "nowhere"
    document["zones"][0]["records"][0]["instance"] = "ghost"
    document["load_balancers"][0]["instances"].append("phantom")
    document["regions"][0]["clusters"][0]["monitored_from"] = "nobody"
    with pytest.raises(ScenarioError) as raised:
        parse(document, source="broken.yaml")
    message = str(raised.value)
    assert message.startswith("broken.yaml: ")
    assert "app shop: unknown cluster 'nowhere'" in message
    assert "record eu-prod-deis-1.example.net: unknown instance 'ghost'" in message
    assert "load balancer eu-prod-elb: unknown instance 'phantom'" in message
    assert "monitored_from 'nobody' is no cluster" in message
    assert "\n" not in message


def test_bad_private_ip_is_reported_with_its_place() -> None:
    document = scenario_document()
    document["instances"][1]["private_ip"] = "10.10.1.300"
    with pytest.raises(ScenarioError) as raised:
        parse(document)
    assert "instances.1.private_ip: private_ip '10.10.1.300' is not an IPv4 address" in str(raised.value)


def test_region_mismatch_and_duplicates_are_reported() -> None:
    document = scenario_document()
    document["instances"].append(deepcopy(document["instances"][0]))
    document["load_balancers"][1]["instances"] = ["eu-prod-deis-1"]
    with pytest.raises(ScenarioError) as raised:
        parse(document)
    message = str(raised.value)
    assert "instance eu-prod-deis-1: defined twice" in message
    assert "load balancer us-prod-alb: instance 'eu-prod-deis-1' is in eu-west-1, not us-east-1" in message


def test_load_reports_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no file"):
        load("no-such-scenario")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load(broken)


def test_generator_builds_a_valid_scenario_with_the_asked_counts() -> None:
    scenario = generate_large(apps=120, records=700, instances=60, seed=7)
    assert len(scenario.apps) == 120
    assert sum(len(zone.records) for zone in scenario.zones) == 700
    assert len(scenario.instances) == 60
    assert len({(app.cluster, app.name) for app in scenario.apps}) == 120
    records = [record for zone in scenario.zones for record in zone.records]
    assert any(r.instance for r in records) and any(r.load_balancer for r in records)
    assert any(r.content and r.content.startswith("198.51.") for r in records)  # dangling ones
    assert {i.role for i in scenario.instances} >= {"deis", "postgres", "monitoring"}
    # Deterministic: the same seed gives the same scenario.
    assert generate_large(apps=120, records=700, instances=60, seed=7) == scenario


def test_generator_rejects_negative_sizes() -> None:
    with pytest.raises(ScenarioError, match="must not be negative"):
        generate_large(apps=-1)


def test_generator_cli_writes_a_scenario_that_loads_back(tmp_path: Path) -> None:
    output = tmp_path / "large.yaml"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sandbox.generate",
            "--apps",
            "40",
            "--records",
            "150",
            "--instances",
            "30",
            "-o",
            str(output),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "40 apps, 150 records, 30 instances" in result.stdout
    scenario = load(output)
    assert (len(scenario.apps), len(scenario.instances)) == (40, 30)
    assert scenario == generate_large(apps=40, records=150, instances=30)


def test_records_must_match_what_they_point_at() -> None:
    document = scenario_document()
    document["zones"][0]["records"][0]["type"] = "AAAA"  # an instance record: sandbox instances are IPv4 only
    document["zones"][0]["records"][10]["type"] = "A"  # eu-prod.example.net points at a load balancer
    with pytest.raises(ScenarioError) as raised:
        parse(document)
    message = str(raised.value)
    assert "a record pointing at an instance must be type A, not AAAA" in message
    assert "a record pointing at a load balancer must be type CNAME, not A" in message


@pytest.mark.parametrize(("path", "value", "message"), [
    (("regions", 0, "timezone"), "Mars/Olympus", "regions.0.timezone: 'Mars/Olympus' is not an IANA time zone"),
    (("regions", 0, "clusters", 0, "name"), "-eu", "regions.0.clusters.0.name: String should match pattern"),
    (("regions", 0, "aws_region"), "", "regions.0.aws_region: String should have at least 1 character"),
])
def test_a_scenario_the_panel_could_not_run_against_is_refused_when_loaded(path, value, message) -> None:
    # Found by tests/fuzz/test_scenario_files.py: these loaded, and the panel then refused the DEIS_CLUSTERS the
    # sandbox handed it.
    document = scenario_document()
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    with pytest.raises(ScenarioError) as raised:
        parse(document)
    assert message in str(raised.value)
