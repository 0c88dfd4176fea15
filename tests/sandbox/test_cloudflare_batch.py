"""The batch endpoint under faults, as the change-set engine relies on it: a lost answer keeps the effect
(apply_then_fail), and the panel's client reads it back instead of sending the batch again."""
from __future__ import annotations

import cloudflare
import pytest
from cloudflare import Cloudflare

from app.services.cloudflare_dns import BatchChange, CloudflareDns, CloudflareZone
from sandbox.cloudflare import CloudflareSimulator, zone_id

from .conftest import CLOUDFLARE_TOKEN

ORG = zone_id("example.org")


def batches(sim: CloudflareSimulator) -> list[dict]:
    return [entry for entry in sim.write_log if entry["path"].endswith("/batch")]


def test_apply_then_fail_keeps_the_whole_batch_and_loses_the_answer(
    cloudflare_client: Cloudflare, cloudflare_sim: CloudflareSimulator
) -> None:
    web1 = next(r for r in cloudflare_sim.records("example.org") if r["name"] == "web-1.example.org")
    cloudflare_sim.faults.configure(apply_then_fail_rate=1.0, error_statuses=[502], path_contains="/batch")

    with pytest.raises(cloudflare.InternalServerError):
        cloudflare_client.dns.records.batch(
            zone_id=ORG, patches=[{"id": web1["id"], "content": "203.0.113.90"}],
            posts=[{"name": "lost.example.org", "type": "A", "content": "203.0.113.91", "ttl": 1}])

    after = {r["name"]: r["content"] for r in cloudflare_sim.records("example.org")}
    assert after["web-1.example.org"] == "203.0.113.90" and after["lost.example.org"] == "203.0.113.91"


@pytest.fixture
def panel_client(cloudflare_sim: CloudflareSimulator, cloudflare_session_server: str) -> CloudflareDns:
    return CloudflareDns(CLOUDFLARE_TOKEN, base_url=f"{cloudflare_session_server}/client/v4", timeout=5)


@pytest.mark.parametrize("reset", [False, True], ids=["5xx", "connection-reset"])
def test_a_lost_batch_answer_is_read_back_not_resent(
    panel_client: CloudflareDns, cloudflare_sim: CloudflareSimulator, reset: bool
) -> None:
    zone = CloudflareZone(ORG, "example.org")
    web1 = next(r for r in cloudflare_sim.records("example.org") if r["name"] == "web-1.example.org")
    cloudflare_sim.faults.configure(apply_then_fail_rate=1.0, apply_then_fail_reset=reset, path_contains="/batch")

    records = panel_client.batch(zone, [
        BatchChange("patch", "web-1.example.org", "A", record_id=web1["id"], fields={"content": "203.0.113.90"}),
        BatchChange("post", "new.example.org", "A", fields={"name": "new.example.org", "type": "A",
                                                          "content": "203.0.113.91", "ttl": 1, "proxied": False}),
    ])

    assert [record.content for record in records] == ["203.0.113.90", "203.0.113.91"]
    assert len(batches(cloudflare_sim)) == 1
    assert [r["content"] for r in cloudflare_sim.records("example.org") if r["name"] == "new.example.org"] == [
        "203.0.113.91"]


def test_a_refused_batch_changes_nothing_and_is_not_retried(
    panel_client: CloudflareDns, cloudflare_sim: CloudflareSimulator
) -> None:
    zone = CloudflareZone(ORG, "example.org")
    before = cloudflare_sim.records("example.org")
    web1 = next(r for r in before if r["name"] == "web-1.example.org")

    with pytest.raises(Exception, match="9005"):
        panel_client.batch(zone, [
            BatchChange("patch", "web-1.example.org", "A", record_id=web1["id"], fields={"content": "203.0.113.90"}),
            BatchChange("post", "bad.example.org", "A", fields={"name": "bad.example.org", "type": "A",
                                                              "content": "not-an-ip", "ttl": 1}),
        ])

    assert cloudflare_sim.records("example.org") == before
    assert len(batches(cloudflare_sim)) == 1
