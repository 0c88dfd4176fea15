"""The mass-deletion guard: a run that would delete a large part of a scope deletes nothing and waits for an admin.

Things vanish through the simulators' own interfaces (the Deis and Cloudflare APIs, EC2 on moto); runs are the real
synchronizers, the pages the real views, the confirmation a real RQ job on a real worker process.
"""
from __future__ import annotations

import os
import subprocess
import sys
from html import unescape

import pytest
import requests
from sqlalchemy import func, select

from app.clients import PlatformClients
from app.config import ConfigError, Settings
from app.extensions import db
from app.models import App, AuditEvent, DnsRecord, Domain, Instance, SyncRequest, SyncRun
from app.queues import queue, redis_url
from app.sync import runner

NEW_APPS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
WAITING = "waiting for confirmation: would delete 6 of 10 apps (60%); nothing was deleted"


def deis_call(sandbox, method: str, path: str, **kwargs) -> requests.Response:
    panel = sandbox.deis["eu-prod"]
    headers = {"Authorization": f"token {panel.token_for(panel.panel_username)}"}
    return requests.request(method, f"{sandbox.deis_url('eu-prod')}{path}", headers=headers, timeout=10, **kwargs)


def create_apps(sandbox, names: list[str]) -> None:
    for name in names:
        assert deis_call(sandbox, "POST", "/v2/apps", json={"id": name}).status_code == 201


def delete_apps(sandbox, names: list[str]) -> None:
    for name in names:
        assert deis_call(sandbox, "DELETE", f"/v2/apps/{name}").status_code == 204


def app_names() -> set[str]:
    db.session.expire_all()
    return set(db.session.scalars(select(App.name)))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def ten_apps_on_eu_prod(sandbox, sync):
    """eu-prod with its 4 scenario apps and 6 more, synced into the panel."""
    create_apps(sandbox, NEW_APPS)
    runs, failures = sync("deis", "eu-prod")
    assert failures == [] and runs[0].status == "succeeded"
    assert db.session.scalar(select(func.count()).select_from(App).where(App.cluster.has(name="eu-prod"))) == 10


@pytest.fixture
def sixty_percent_gone(sandbox, sync, ten_apps_on_eu_prod) -> SyncRun:
    """6 of eu-prod's 10 apps deleted in the controller, one created, then a sync: the run that waits."""
    delete_apps(sandbox, NEW_APPS)
    create_apps(sandbox, ["newcomer"])
    runs, failures = sync("deis", "eu-prod")
    assert failures == []
    return runs[0]


def csrf_token(client, path: str = "/sync/") -> str:
    return client.get(path).get_data(as_text=True).split('name="csrf-token" content="')[1].split('"')[0]


def confirm(client, run_id: int):
    return client.post(f"/sync/runs/{run_id}/confirm-deletion", headers={"X-CSRFToken": csrf_token(client)})


def panel_env(settings, sandbox) -> dict[str, str]:
    return {**os.environ, **sandbox.env(), "ADMIN_PANEL_INSTANCE_DIR": str(settings.instance_dir),
            "DATABASE_URL": settings.database_url, "REDIS_URL": redis_url(), "SECRET_KEY": settings.secret_key}


def test_sixty_percent_of_a_cluster_s_apps_vanishing_deletes_nothing_and_waits(sixty_percent_gone, client,
                                                                                login_as):
    run = sixty_percent_gone
    assert run.status == "needs_confirmation" and run.deleted == 0
    assert run.pending_deletions == {"apps": {"would_delete": 6, "of": 10}}
    assert run.progress_message == WAITING
    # Nothing swept, not even the vanished apps' domains; the new app and its domain were still written.
    assert set(NEW_APPS) | {"newcomer", "shop", "billing", "blog", "reports"} <= app_names()
    assert run.created == 2
    vanished_domains = select(func.count()).select_from(Domain).where(Domain.app.has(App.name.in_(NEW_APPS)))
    assert db.session.scalar(vanished_domains) == 6

    login_as("viewer")
    sync_page = unescape(client.get("/sync/").get_data(as_text=True))
    waiting = sync_page[sync_page.index('id="needs-confirmation"'):sync_page.index('id="latest"')]
    assert "deis</strong> / eu-prod" in waiting and WAITING in waiting
    assert "needs_confirmation" in sync_page[sync_page.index('id="latest"'):]
    assert "Confirm deletion" not in sync_page  # viewers see the numbers, not the button
    home = unescape(client.get("/").get_data(as_text=True))
    panel = home[home.index('id="panel-syncs"'):home.index('id="panel-limits"')]
    assert "eu-prod" in panel and WAITING in panel


def test_every_later_run_keeps_waiting_until_someone_confirms(sandbox, sync, sixty_percent_gone):
    runs, _ = sync("deis", "eu-prod")
    assert runs[0].status == "needs_confirmation" and runs[0].deleted == 0
    assert runs[0].pending_deletions == {"apps": {"would_delete": 6, "of": 11}}
    assert set(NEW_APPS) <= app_names()


def test_an_admin_confirms_on_the_page_and_a_real_worker_applies_it_audited(sandbox, sixty_percent_gone, client,
                                                                             login_as, settings):
    run = sixty_percent_gone
    sync_queue = queue("sync")
    sync_queue.empty()
    admin = login_as("admin")
    home = client.get("/").get_data(as_text=True)
    assert f'action="/sync/runs/{run.id}/confirm-deletion"' in home and "Confirm deletion" in home
    page = client.get("/sync/").get_data(as_text=True)
    assert f'action="/sync/runs/{run.id}/confirm-deletion"' in page

    response = confirm(client, run.id)
    [job] = sync_queue.jobs
    request = db.session.scalars(select(SyncRequest)).one()
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/sync/requests/{request.id}")
    assert job.args == ("deis", "eu-prod", admin.username) and request.job_id == job.id
    assert job.kwargs == {"allow_mass_delete": True, "allow_up_to": 6, "request_id": request.id}
    assert request.title == "Confirmed deletions of deis / eu-prod"
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sync.confirm_deletion"))
    assert (event.actor, event.target) == (admin.username, "deis/eu-prod")
    assert event.before == {"run_id": run.id, "status": "needs_confirmation",
                            "pending_deletions": {"apps": {"would_delete": 6, "of": 10}}}
    assert event.after == {"source": "deis", "scope": "eu-prod", "allow_up_to": 6, "request_id": request.id}
    assert set(NEW_APPS) <= app_names()  # confirming only asks; the run deletes

    worker = subprocess.run(
        [sys.executable, "-m", "rq.cli", "worker", "--burst", "--worker-class", "jobs.worker.PanelWorker",
         "-u", redis_url(), "sync"],
        env=panel_env(settings, sandbox), capture_output=True, text=True, timeout=180,
    )
    assert worker.returncode == 0, worker.stderr
    job.refresh()
    assert job.is_finished, worker.stdout + worker.stderr
    db.session.expire_all()
    applied = db.session.scalars(select(SyncRun).where(SyncRun.request_id == request.id)).one()
    assert (applied.status, applied.triggered_by, applied.deleted) == ("succeeded", admin.username, 12)  # + domains
    assert app_names() & set(NEW_APPS) == set() and {"shop", "newcomer"} <= app_names()
    job_page = unescape(client.get(f"/sync/requests/{request.id}").get_data(as_text=True))
    assert "12 deleted" in job_page
    assert "Confirm deletion" not in client.get("/").get_data(as_text=True)


def test_a_listing_that_shrank_further_since_the_confirmation_waits_again(sandbox, sixty_percent_gone, client,
                                                                          login_as, clients, locks):
    sync_queue = queue("sync")
    sync_queue.empty()
    login_as("admin")
    assert confirm(client, sixty_percent_gone.id).status_code == 302
    [job] = sync_queue.jobs
    sync_queue.empty()
    delete_apps(sandbox, ["blog"])  # the controller now lists even less than the admin saw

    runs, failures = runner.run_many(db.session, clients, locks, runner.plan(clients, "deis", "eu-prod"),
                                     triggered_by="test", **job.kwargs)
    assert failures == [] and runs[0].status == "needs_confirmation" and runs[0].deleted == 0
    assert runs[0].pending_deletions == {"apps": {"would_delete": 7, "of": 11}}
    assert set(NEW_APPS) | {"blog"} <= app_names()


def test_a_run_that_no_longer_waits_cannot_be_confirmed(sandbox, sync, sixty_percent_gone, client, login_as):
    sync_queue = queue("sync")
    sync_queue.empty()
    create_apps(sandbox, NEW_APPS)  # the apps are back: the next run has nothing to hold back
    runs, _ = sync("deis", "eu-prod")
    assert runs[0].status == "succeeded"
    login_as("admin")
    response = confirm(client, sixty_percent_gone.id)
    assert response.status_code == 409
    assert "no longer waits for a confirmation: a later run of this scope came since" in unescape(
        response.get_data(as_text=True))
    response = confirm(client, runs[0].id)
    assert response.status_code == 409 and "has no deletions waiting" in unescape(response.get_data(as_text=True))
    assert client.post("/sync/runs/999999/confirm-deletion",
                       headers={"X-CSRFToken": csrf_token(client)}).status_code == 404
    assert sync_queue.count == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "sync.confirm_deletion")) == 0


def test_a_viewer_cannot_confirm_and_nothing_changes(sixty_percent_gone, client, login_as):
    sync_queue = queue("sync")
    sync_queue.empty()
    login_as("viewer")
    response = confirm(client, sixty_percent_gone.id)
    assert response.status_code == 403
    assert sync_queue.count == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "sync.confirm_deletion")) == 0
    db.session.expire_all()
    assert db.session.get(SyncRun, sixty_percent_gone.id).status == "needs_confirmation"


def test_a_confirmation_without_csrf_token_is_refused(sixty_percent_gone, client, login_as):
    sync_queue = queue("sync")
    sync_queue.empty()
    login_as("admin")
    response = client.post(f"/sync/runs/{sixty_percent_gone.id}/confirm-deletion")
    assert response.status_code == 400 and sync_queue.count == 0


def test_flask_sync_run_allow_mass_delete_applies_it(sandbox, settings, ten_apps_on_eu_prod):
    delete_apps(sandbox, NEW_APPS)
    env = panel_env(settings, sandbox)
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "sync", "run", "--source", "deis", "--scope", "eu-prod"]
    waiting = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert waiting.returncode == 1
    assert f"deis/eu-prod: NEEDS CONFIRMATION — {WAITING}" in waiting.stderr
    assert "flask sync run --source deis --scope eu-prod --allow-mass-delete" in waiting.stderr
    assert set(NEW_APPS) <= app_names()

    everything = subprocess.run([*command[:-4], "--allow-mass-delete"], env=env, capture_output=True, text=True,
                                timeout=60)
    assert everything.returncode == 2 and "one scope at a time" in everything.stderr

    applied = subprocess.run([*command, "--allow-mass-delete"], env=env, capture_output=True, text=True, timeout=120)
    assert applied.returncode == 0, applied.stderr
    assert "deis/eu-prod: created 0, updated 0, deleted 12, unchanged" in applied.stdout
    assert app_names() & set(NEW_APPS) == set()
    run = db.session.scalars(select(SyncRun).order_by(SyncRun.id.desc())).first()
    assert (run.status, run.triggered_by, run.pending_deletions) == ("succeeded", "cli", None)


def test_five_deletions_go_through_even_when_they_are_the_whole_cluster(sandbox, sync):
    create_apps(sandbox, ["alpha"])
    sync("deis", "eu-prod")
    delete_apps(sandbox, ["alpha", "shop", "billing", "blog", "reports"])
    runs, failures = sync("deis", "eu-prod")
    assert failures == [] and runs[0].status == "succeeded"
    assert runs[0].pending_deletions is None
    assert db.session.scalar(select(func.count()).select_from(App).where(App.cluster.has(name="eu-prod"))) == 0


def test_six_deletions_at_exactly_the_configured_fraction_go_through(sandbox, settings, locks, ten_apps_on_eu_prod):
    environ = {"ADMIN_PANEL_INSTANCE_DIR": str(settings.instance_dir), "DATABASE_URL": settings.database_url,
               "SYNC_MAX_DELETE_FRACTION": "0.6", **sandbox.env()}
    clients = PlatformClients(Settings.from_env(environ))
    delete_apps(sandbox, NEW_APPS)  # 6 of 10: not more than 60%
    runs, failures = runner.run_many(db.session, clients, locks, runner.plan(clients, "deis", "eu-prod"))
    assert failures == [] and runs[0].status == "succeeded" and runs[0].deleted == 12
    assert app_names() & set(NEW_APPS) == set()


def test_cloudflare_records_vanishing_in_bulk_wait_for_confirmation(sandbox, sync, clients, locks):
    sync("cloudflare")
    before = count(DnsRecord)
    zone_id = sandbox.cloudflare.zone_id("example.net")
    doomed = [record for record in sandbox.cloudflare.records("example.net") if record["type"] in ("A", "AAAA")][:6]
    assert len(doomed) == 6
    for record in doomed:
        response = requests.delete(f"{sandbox.cloudflare_url}/zones/{zone_id}/dns_records/{record['id']}",
                                   headers={"Authorization": f"Bearer {sandbox.scenario.cloudflare.token}"},
                                   timeout=10)
        assert response.status_code == 200, response.text

    runs, failures = sync("cloudflare")
    assert failures == [] and runs[0].status == "needs_confirmation" and runs[0].deleted == 0
    assert runs[0].pending_deletions == {"records": {"would_delete": 6, "of": before}}
    assert runs[0].progress_message == (f"waiting for confirmation: would delete 6 of {before} records"
                                        f" ({100 * 6 / before:.0f}%); nothing was deleted")
    assert count(DnsRecord) == before

    runs, failures = runner.run_many(db.session, clients, locks, runner.plan(clients, "cloudflare"),
                                     allow_mass_delete=True)
    assert failures == [] and runs[0].status == "succeeded" and runs[0].deleted == 6
    assert count(DnsRecord) == before - 6


def test_aws_instances_vanishing_in_bulk_wait_for_confirmation(sandbox, sync):
    ec2 = sandbox.aws.client("ec2", "eu-west-1")
    launched = ec2.run_instances(ImageId="ami-0sandbox000000001", InstanceType="t3.micro", MinCount=5, MaxCount=5,
                                 SubnetId=sandbox.aws.instance("chef-1").subnet_id)["Instances"]
    sync("aws", "eu-west-1")
    region_instances = select(func.count()).select_from(Instance).where(Instance.aws_region == "eu-west-1")
    assert db.session.scalar(region_instances) == 10
    doomed = [instance["InstanceId"] for instance in launched] + [sandbox.aws.instance("chef-1").instance_id]
    ec2.terminate_instances(InstanceIds=doomed)

    runs, failures = sync("aws", "eu-west-1")
    assert failures == [] and runs[0].status == "needs_confirmation" and runs[0].deleted == 0
    assert runs[0].pending_deletions == {"instances": {"would_delete": 6, "of": 10}}
    db.session.expire_all()
    assert db.session.scalar(region_instances) == 10
    assert db.session.scalar(select(Instance).where(Instance.name == "chef-1")) is not None


@pytest.mark.parametrize("value", ["0", "1.5", "-0.2", "nan"])
def test_a_max_delete_fraction_outside_0_to_1_is_refused_with_a_clear_message(value):
    with pytest.raises(ConfigError, match="SYNC_MAX_DELETE_FRACTION must be a fraction above 0 and at most 1"):
        Settings.from_env({"SYNC_MAX_DELETE_FRACTION": value})
    assert Settings.from_env({}).sync_max_delete_fraction == 0.2
