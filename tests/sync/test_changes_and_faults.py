"""A sync follows exactly what changed; a failing source deletes nothing; runs of one scope never interleave."""
from __future__ import annotations

import dataclasses

import pytest
import requests
from sqlalchemy import func, select

from app.extensions import db
from app.models import App, DnsRecord, Domain, Instance, LoadBalancer, MaintenanceEvent, SyncRun
from sandbox.scenario import MaintenanceEventSpec

DATA_MODELS = (App, Domain, Instance, LoadBalancer, MaintenanceEvent, DnsRecord)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def snapshot() -> dict[str, int]:
    db.session.expire_all()
    return {model.__tablename__: count(model) for model in DATA_MODELS}


def deis_call(sandbox, cluster: str, method: str, path: str, **kwargs) -> requests.Response:
    panel = sandbox.deis[cluster]
    headers = {"Authorization": f"token {panel.token_for(panel.panel_username)}"}
    return requests.request(method, f"{sandbox.deis_url(cluster)}{path}", headers=headers, timeout=10, **kwargs)


def test_next_sync_shows_exactly_what_changed_and_removes_what_vanished(sandbox, sync):
    sync()
    before = snapshot()
    old_ip = db.session.scalar(select(Instance.public_ip).where(Instance.name == "eu-prod-deis-1"))

    assert deis_call(sandbox, "eu-prod", "POST", "/v2/apps", json={"id": "newapp"}).status_code == 201
    assert deis_call(sandbox, "eu-prod", "DELETE", "/v2/apps/blog/domains/blog.example.com").status_code == 204
    assert deis_call(sandbox, "us-prod", "DELETE", "/v2/apps/api-worker").status_code == 204
    new_ip = sandbox.aws.replace_instance_ip("eu-prod-deis-1")
    event_id = sandbox.aws.add_maintenance_event("us-prod-deis-1", MaintenanceEventSpec(code="system-reboot"))

    runs, failures = sync()
    assert failures == []
    db.session.expire_all()
    by_scope = {(run.source, run.scope): run for run in runs}
    # newapp and its automatic domain; the blog domain; api-worker and its automatic domain.
    assert (by_scope["deis", "eu-prod"].created, by_scope["deis", "eu-prod"].deleted) == (2, 1)
    assert (by_scope["deis", "us-prod"].created, by_scope["deis", "us-prod"].deleted) == (0, 2)
    assert by_scope["deis", "us-mon"].created + by_scope["deis", "us-mon"].updated == 0

    assert db.session.scalar(select(App).where(App.name == "newapp")).owner == "admin-panel"
    assert db.session.scalar(select(Domain).where(Domain.name == "blog.example.com")) is None
    assert db.session.scalar(select(App).where(App.name == "api-worker")) is None
    instance = db.session.scalar(select(Instance).where(Instance.name == "eu-prod-deis-1"))
    assert instance.public_ip == new_ip != old_ip
    assert by_scope["aws", "eu-west-1"].updated >= 1
    event = db.session.scalar(select(MaintenanceEvent).where(MaintenanceEvent.event_id == event_id))
    assert event.instance.name == "us-prod-deis-1" and event.code == "system-reboot" and not event.completed

    # The record still holds the old IP in Cloudflare: it now points at nothing we know.
    record = db.session.scalar(select(DnsRecord).where(DnsRecord.name == "eu-prod-deis-1.example.net"))
    assert record.content == old_ip and record.instance_id is None and record.dangling is True

    after = snapshot()
    assert after["apps"] == before["apps"]  # one new, one gone
    assert after["maintenance_events"] == before["maintenance_events"] + 1
    assert after["dns_records"] == before["dns_records"]


@pytest.mark.parametrize("fault", [
    {"error_rate": 1.0, "error_statuses": [500], "after_requests": 2},
    {"reset_rate": 1.0, "after_requests": 3},
])
def test_deis_failing_mid_fetch_deletes_nothing_and_the_next_run_recovers(sandbox, sync, fault):
    sync()
    before = snapshot()
    assert deis_call(sandbox, "eu-prod", "DELETE", "/v2/apps/reports").status_code == 204  # would be swept
    sandbox.deis["eu-prod"].faults.configure(**fault)

    runs, failures = sync("deis", "eu-prod")
    assert runs == [] and len(failures) == 1
    failed = db.session.scalars(select(SyncRun).where(SyncRun.status == "failed")).one()
    assert failed.source == "deis" and failed.scope == "eu-prod"
    assert failed.error.startswith("Deis eu-prod:") and "failed" in failed.error
    assert snapshot() == before
    assert db.session.scalar(select(App).where(App.name == "reports")) is not None

    sandbox.deis["eu-prod"].faults.clear()
    runs, failures = sync("deis", "eu-prod")
    assert failures == [] and runs[0].status == "succeeded" and runs[0].deleted == 2  # the app and its own domain
    assert db.session.scalar(select(App).where(App.name == "reports")) is None


def test_cloudflare_429_storm_beyond_retries_records_a_readable_failure(sandbox, sync):
    sync("cloudflare")
    before = snapshot()
    sandbox.cloudflare.faults.configure(storm_429_seconds=300)
    runs, failures = sync("cloudflare")
    assert runs == []
    failed = db.session.scalars(select(SyncRun).where(SyncRun.status == "failed")).one()
    assert "rate limited by Cloudflare" in failed.error
    assert snapshot() == before
    sandbox.cloudflare.faults.clear()
    runs, failures = sync("cloudflare")
    assert failures == [] and runs[0].unchanged == before["dns_records"] + 2  # records and the two zones


def test_aws_failure_deletes_nothing(sandbox, sync, clients, monkeypatch):
    sync("aws")
    before = snapshot()
    # moto runs in-process and has no fault switch: point the client at a port where nothing listens.
    monkeypatch.setattr(clients, "settings", dataclasses.replace(clients.settings, aws_endpoint_url="http://127.0.0.1:9"))
    runs, failures = sync("aws", "eu-west-1")
    assert runs == [] and "AWS eu-west-1" in failures[0]
    assert snapshot() == before


def test_a_second_run_of_the_same_scope_skips_instead_of_interleaving(sandbox, sync, app, locks):
    with locks("sync-lock:deis:eu-prod") as held:
        assert held
        runs, failures = sync("deis", "eu-prod")
    assert runs == [] and failures == []
    assert count(SyncRun) == 0 and count(App) == 0
    runs, _ = sync("deis", "eu-prod")
    assert len(runs) == 1


def test_a_run_left_running_by_a_dead_process_is_marked_interrupted_by_the_next(sandbox, sync):
    from app.models import utcnow

    db.session.add(SyncRun(source="deis", scope="eu-prod", status="running", started_at=utcnow()))
    db.session.commit()
    runs, failures = sync("deis", "eu-prod")
    assert failures == [] and runs[0].status == "succeeded"
    db.session.expire_all()
    dead = db.session.scalars(select(SyncRun).where(SyncRun.status == "failed")).one()
    assert dead.error.startswith("interrupted: the process running it stopped") and dead.finished_at
