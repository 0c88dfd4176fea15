"""The Cloudflare sync against a harsh simulator: churn while it reads, answers lost after the work was done, and
listings whose pages shift. Whatever happens, a record that exists in Cloudflare is never deleted from the panel."""
from __future__ import annotations

import dataclasses
import json
from urllib.parse import parse_qs

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import DnsRecord, SyncRun
from app.services import cloudflare_dns
from tests.sandbox.conftest import serve_wsgi

ZONES = ("example.com", "example.net")


def simulator_ids(sandbox) -> set[str]:
    return {record["id"] for zone in ZONES for record in sandbox.cloudflare.records(zone)}


def panel_ids() -> set[str]:
    db.session.expire_all()
    return set(db.session.scalars(select(DnsRecord.cf_id)))


@pytest.fixture
def small_pages(monkeypatch):
    """Pages of 4 records, so each zone of the test scenario takes several pages and churn falls between them."""
    monkeypatch.setattr(cloudflare_dns, "RECORDS_PER_PAGE", 4)


def test_churn_while_syncing_never_deletes_a_record_that_exists(sandbox, sync, small_pages):
    sync("cloudflare")
    assert panel_ids() == simulator_ids(sandbox)
    sandbox.cloudflare.faults.configure(churn_per_second=300, seed=21)

    outcomes = []
    for _ in range(4):
        panel_before, before = panel_ids(), simulator_ids(sandbox)
        runs, failures = sync("cloudflare")
        outcomes.append("succeeded" if runs else failures[0])
        stable = before & simulator_ids(sandbox)  # existed in Cloudflare throughout the run
        if runs:  # a whole listing: every record that existed throughout is in the panel
            assert stable <= panel_ids(), "a record that existed throughout the run is missing"
        else:  # a refused listing changes nothing
            assert panel_ids() == panel_before
        assert stable & panel_before <= panel_ids(), "a record that exists was deleted"

    assert sandbox.cloudflare.churn_log, "churn did not happen"
    for outcome in outcomes:
        assert outcome == "succeeded" or "the listing changed while it was read" in outcome or (
            "the zone changed while its pages were read" in outcome), outcome

    sandbox.cloudflare.faults.clear()
    # Heavy churn can replace most records: that sweep waits for a confirmation, which the operator gives here.
    runs, failures = sync("cloudflare", allow_mass_delete=True)
    assert failures == [] and panel_ids() == simulator_ids(sandbox)


def test_a_shifting_listing_is_read_again_and_deletes_nothing_that_exists(sandbox, sync, clients, small_pages,
                                                                          monkeypatch):
    sync("cloudflare")
    with serve_wsgi(ShiftOnce(sandbox, "example.net", times=1)) as base:
        monkeypatch.setattr(clients, "settings", dataclasses.replace(
            clients.settings, cloudflare_base_url=f"{base}/client/v4"))
        runs, failures = sync("cloudflare")

    assert failures == [] and runs[0].status == "succeeded"
    assert panel_ids() == simulator_ids(sandbox)  # the record the shifted pages skipped is still there


def test_a_listing_that_keeps_shifting_fails_the_run_and_deletes_nothing(sandbox, sync, clients, small_pages,
                                                                        monkeypatch):
    sync("cloudflare")
    before = panel_ids()
    with serve_wsgi(ShiftOnce(sandbox, "example.net", times=10)) as base:
        monkeypatch.setattr(clients, "settings", dataclasses.replace(
            clients.settings, cloudflare_base_url=f"{base}/client/v4"))
        runs, failures = sync("cloudflare")

    assert runs == [] and "the zone changed while its pages were read" in failures[0]
    failed = db.session.scalars(select(SyncRun).where(SyncRun.status == "failed")).one()
    assert failed.error.startswith("Cloudflare: list records of example.net failed")
    assert panel_ids() == before


@pytest.mark.parametrize("rate", [1.0, 0.3])
def test_reads_answered_with_5xx_after_being_handled_keep_the_guarantees(sandbox, sync, rate):
    sync("cloudflare")
    before = panel_ids()
    sandbox.cloudflare.faults.configure(apply_then_fail_rate=rate, apply_then_fail_methods=["GET"], seed=4)
    runs, failures = sync("cloudflare")
    if rate == 1.0:
        assert runs == [] and "HTTP 5" in failures[0]
    if runs:
        assert runs[0].deleted == 0
    assert panel_ids() == before == simulator_ids(sandbox)


class ShiftOnce:
    """After page 1 of a zone's records, delete that page's first record and create another (same total): a
    page-number listing then skips a record that still exists. `times` listings are disturbed."""

    def __init__(self, sandbox, zone: str, times: int) -> None:
        self.sandbox, self.zone, self.left = sandbox, zone, times
        self.wsgi_app = sandbox.cloudflare.wsgi_app

    def __call__(self, environ, start_response):
        answer = b"".join(self.wsgi_app(environ, start_response))
        page = parse_qs(environ.get("QUERY_STRING", "")).get("page")
        zone_id = self.sandbox.cloudflare.zone_id(self.zone)
        if self.left > 0 and environ["PATH_INFO"].endswith(f"{zone_id}/dns_records") and page == ["1"]:
            first = json.loads(answer)["result"][0]
            self.sandbox.cloudflare.remove_record(self.zone, first["id"])
            self.sandbox.cloudflare.add_record(self.zone, type="TXT", name=f"moved-{self.left}", content="moved")
            self.left -= 1
        return [answer]
