"""The change-set pages against the demo sandbox: plan a switch, review the diff, apply on a worker with progress,
roll back; every change asks for the password again once it is stale; viewers change nothing."""
from __future__ import annotations

import dataclasses

import pytest
from rq import SimpleWorker
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, ChangeSet, DnsRecord
from app.queues import queue, redis_connection
from tests.conftest import PASSWORD
from tests.operations.conftest import demo, demo_scenario  # noqa: F401 (fixtures)

MINUTE = 60
SHAPE = ("name", "type", "content", "ttl", "proxied", "comment")


@pytest.fixture
def panel(app, demo, monkeypatch):
    """The panel app talking to the demo sandbox's Cloudflare, with empty queues."""
    settings = demo.clients.settings
    monkeypatch.setitem(app.config, "SETTINGS", dataclasses.replace(
        app.config["SETTINGS"], cloudflare_api_token=settings.cloudflare_api_token,
        cloudflare_base_url=settings.cloudflare_base_url))
    for name in ("default", "sync"):
        queue(name).empty()
    yield demo
    for name in ("default", "sync"):
        queue(name).empty()


def csrf_token_from(client) -> str:
    html = client.get("/").get_data(as_text=True)
    return html.split('name="csrf-token" content="')[1].split('"')[0]


def run_worker() -> None:
    """Run the queued apply jobs in this process, as a worker would (the app context is this test's)."""
    SimpleWorker([queue("default")], connection=redis_connection()).work(burst=True)


def shapes(world) -> list[tuple]:
    return sorted(tuple(r[f] for f in SHAPE) for zone in ("northwind-shop.com", "platform-ops.net")
                  for r in world.records(zone))


def test_plan_review_apply_and_roll_back_from_the_pages(client, login_as, panel):
    login_as("admin")
    before = shapes(panel)
    token = csrf_token_from(client)

    planned = client.post("/change-sets/switch", data={"source": "eu-prod", "target": "eu-staging",
                                                       "zone": "northwind-shop.com", "csrf_token": token})
    assert planned.status_code == 302, planned.get_data(as_text=True)
    page = client.get(planned.headers["Location"]).get_data(as_text=True)
    assert "Switch eu-prod → eu-staging (zone northwind-shop.com)" in page and ">planned<" in page
    assert page.count('class="diff-update') == 7 and "CNAME to eu-prod&#39;s load balancer eu-prod-alb" in page
    assert page.count("foreign: not made by the panel") == 7  # the demo's records were made by hand
    change_set = db.session.scalars(select(ChangeSet)).one()
    # Drop one row: it is shown, never applied.
    blog = next(item for item in change_set.items if item.record_name == "blog.northwind-shop.com")
    client.post(f"/change-sets/{change_set.id}/drop", data={"item": str(blog.id), "csrf_token": token})

    applied = client.post(f"/change-sets/{change_set.id}/apply", data={"csrf_token": token})
    assert applied.status_code == 302
    polling = client.get(f"/change-sets/{change_set.id}", headers={"HX-Request": "true"})
    assert polling.status_code == 200 and 'hx-trigger="every 1s"' in polling.get_data(as_text=True)
    run_worker()
    done = client.get(f"/change-sets/{change_set.id}", headers={"HX-Request": "true"})
    assert done.status_code == 286 and ">applied<" in done.get_data(as_text=True)
    contents = {r["name"]: r["content"] for r in panel.records("northwind-shop.com")}
    assert contents["blog.northwind-shop.com"] != contents["www.northwind-shop.com"]  # the dropped row stayed
    assert [job.args[0] for job in queue("sync").get_jobs()] == ["cloudflare"]

    undo = client.post(f"/change-sets/{change_set.id}/rollback", data={"csrf_token": token})
    assert undo.status_code == 302
    run_worker()
    assert shapes(panel) == before
    assert ">rolled_back<" in client.get(f"/change-sets/{change_set.id}").get_data(as_text=True)
    listing = client.get("/change-sets/").get_data(as_text=True)
    assert "Rollback of change set #1" in listing
    rollback_page = client.get(undo.headers["Location"]).get_data(as_text=True)
    assert ">applied<" in rollback_page and "undo: update CNAME www.northwind-shop.com" in rollback_page
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"change_set.plan", "change_set.drop", "change_set.apply", "change_set.rollback",
            "change_set.applied"} <= actions


def test_a_stale_password_is_asked_before_applying(client, login_as, panel):
    login_as("admin")
    token = csrf_token_from(client)
    client.post("/change-sets/switch", data={"source": "eu-prod", "target": "eu-staging", "csrf_token": token})
    change_set = db.session.scalars(select(ChangeSet)).one()
    with client.session_transaction() as session:
        session["reauth_at"] -= 6 * MINUTE

    asked = client.post(f"/change-sets/{change_set.id}/apply", data={"csrf_token": token})
    assert 'name="reauth_password"' in asked.get_data(as_text=True)
    wrong = client.post(f"/change-sets/{change_set.id}/apply", data={"csrf_token": token,
                                                                     "reauth_password": "not it"})
    assert wrong.status_code in (401, 403)
    db.session.refresh(change_set)
    assert change_set.state == "planned" and queue("default").count == 0
    confirmed = client.post(f"/change-sets/{change_set.id}/apply", data={"csrf_token": token,
                                                                         "reauth_password": PASSWORD})
    assert confirmed.status_code == 302 and queue("default").count == 1


def test_bad_plans_are_refused_on_the_page_and_change_nothing(client, login_as, panel):
    login_as("admin")
    token = csrf_token_from(client)
    itself = client.post("/change-sets/switch", data={"source": "eu-prod", "target": "eu-prod", "csrf_token": token})
    assert itself.status_code == 400 and "cannot be switched to itself" in itself.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ChangeSet)) == 0


def test_a_viewer_sees_the_diff_but_no_buttons(client, login_as, make_user, panel):
    from app.operations.cluster_switch import plan_switch
    change_set = plan_switch(db.session, panel.clients.cloudflare(), "eu-prod", "eu-staging", "alice")
    login_as("viewer")
    page = client.get(f"/change-sets/{change_set.id}").get_data(as_text=True)
    assert "www.northwind-shop.com" in page and "apply-change-set" not in page
    token = csrf_token_from(client)
    assert client.post(f"/change-sets/{change_set.id}/apply", data={"csrf_token": token}).status_code == 403
    db.session.refresh(change_set)
    assert change_set.state == "planned"


def test_records_on_an_old_address_are_flagged_on_three_pages_and_repointed_in_one_click(client, login_as, panel):
    from tests.operations.test_repoint import new_public_ip
    address = new_public_ip(panel, "eu-staging-deis-1")
    panel.sync("aws")
    instance_id = db.session.scalar(select(DnsRecord.follows_instance_id).where(DnsRecord.follows_instance_id.is_not(None)))
    login_as("admin")
    flag = "follows eu-staging-deis-1: old address"
    for path in ("/", f"/instances/{instance_id}", "/dns/"):
        assert flag in client.get(path).get_data(as_text=True), path
    token = csrf_token_from(client)

    planned = client.post(f"/change-sets/follow/{instance_id}", data={"csrf_token": token})
    assert planned.status_code == 302
    change_set = db.session.scalars(select(ChangeSet)).one()
    client.post(f"/change-sets/{change_set.id}/apply", data={"csrf_token": token})
    run_worker()

    record = next(r for r in panel.records("platform-ops.net") if r["name"] == "eu-staging-deis-1.platform-ops.net")
    assert record["content"] == address
    panel.sync("cloudflare")
    assert flag not in client.get("/").get_data(as_text=True)


def test_dangling_records_page_plans_their_deletion(client, login_as, panel):
    login_as("admin")
    page = client.get("/dns/dangling").get_data(as_text=True)
    assert "old-jenkins.platform-ops.net" in page and "old-shop.northwind-shop.com" in page
    jenkins = db.session.scalar(select(DnsRecord).where(DnsRecord.name == "old-jenkins.platform-ops.net"))
    token = csrf_token_from(client)
    planned = client.post("/change-sets/dangling", data={"record": str(jenkins.id), "csrf_token": token})
    assert planned.status_code == 302
    change_set = db.session.scalars(select(ChangeSet)).one()
    assert [(item.action, item.record_name) for item in change_set.items] == [
        ("delete", "old-jenkins.platform-ops.net")]
    client.post(f"/change-sets/{change_set.id}/apply", data={"csrf_token": token})
    run_worker()
    names = {r["name"] for r in panel.records("platform-ops.net")}
    assert "old-jenkins.platform-ops.net" not in names and "vpn.platform-ops.net" in names


def test_an_apply_whose_job_is_gone_offers_a_resume(client, login_as, panel):
    from rq.job import Job
    login_as("admin")
    token = csrf_token_from(client)
    client.post("/change-sets/switch", data={"source": "eu-prod", "target": "eu-staging", "zone": "contoso-pay.com",
                                             "csrf_token": token})
    change_set = db.session.scalars(select(ChangeSet)).one()
    client.post(f"/change-sets/{change_set.id}/apply", data={"csrf_token": token})
    db.session.refresh(change_set)
    assert 'id="resume-change-set"' not in client.get(f"/change-sets/{change_set.id}").get_data(as_text=True)

    Job.fetch(change_set.job_id, connection=redis_connection()).delete()  # the worker and its job are lost

    page = client.get(f"/change-sets/{change_set.id}").get_data(as_text=True)
    assert "The worker applying this set stopped before it finished" in page and 'id="resume-change-set"' in page
    assert client.post(f"/change-sets/{change_set.id}/apply", data={"csrf_token": token}).status_code == 302
    run_worker()
    db.session.refresh(change_set)
    assert change_set.state == "applied"


def test_planning_without_cloudflare_configured_is_refused_in_words(client, login_as):
    # Found by the authorization matrix: a panel without CLOUDFLARE_API_TOKEN answered a plan with a 500.
    login_as("admin")
    for path, form in (("/change-sets/switch", {"source": "a", "target": "b"}), ("/change-sets/repoint", {}),
                       ("/change-sets/dangling", {"record": "1"})):
        response = client.post(path, data=form, headers={"X-CSRFToken": csrf_token_from(client)})
        assert response.status_code == 503, path
        assert "Cloudflare is not configured (CLOUDFLARE_API_TOKEN is not set)." in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ChangeSet)) == 0
