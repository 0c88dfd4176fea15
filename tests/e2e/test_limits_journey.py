"""In Chromium: an admin finds an app drifting from its limit set on the drift page, enforces it with one click,
and once the worker has posted the limit to Deis (the sandbox's controller) and the follow-up sync ran, the drift
page says every app matches. No CSP violation."""
from __future__ import annotations

import dataclasses

from playwright.sync_api import expect
from rq import SimpleWorker
from sqlalchemy import select

from app.clients import PlatformClients
from app.cluster_settings import parse_clusters
from app.models import Cluster
from app.queues import queue, redis_connection
from tests import factories as make
from tests.conftest import PASSWORD
from tests.e2e import screenshots
from tests.e2e.test_security_policy import violations_of


def run_queued(name: str) -> None:
    """Play the worker of one queue: run what the click queued, here, while the browser waits."""
    SimpleWorker([queue(name)], connection=redis_connection()).work(burst=True)


def test_enforce_a_drifting_app_from_the_drift_page(page, live_server, make_user, app, db_session, sandbox,
                                                    monkeypatch):
    from app.sync import runner
    from app.sync.locks import redis_locks

    monkeypatch.setitem(app.config, "SETTINGS", dataclasses.replace(
        app.config["SETTINGS"], deis_clusters=parse_clusters(sandbox.env()["DEIS_CLUSTERS"]),
        limits_enforce_interval=0))
    clients = PlatformClients(app.config["SETTINGS"])
    runner.run_many(db_session, clients, redis_locks(redis_connection()), runner.plan(clients, "deis", "eu-prod"),
                    triggered_by="test")
    eu_prod = db_session.scalar(select(Cluster).where(Cluster.name == "eu-prod"))
    make.limit_set(db_session, eu_prod, "web", memory={"web": "512M"})
    db_session.commit()
    for name in ("default", "sync"):
        queue(name).empty()
    make_user("root", "admin")
    violations = violations_of(page)

    page.goto(f"{live_server}/login")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server}/limits/drift?cluster=eu-prod")
    blog = page.locator("#drift tbody tr", has_text="blog")
    expect(blog).to_contain_text("512M")
    expect(blog).to_contain_text("256M")
    screenshots.save(page, "07-limits-drift", focus=page.locator("h2"))

    blog.get_by_role("button", name="Enforce blog").click()
    expect(page.get_by_role("alert").first).to_contain_text("Limit enforcement of app #")
    run_queued("default")  # posts memory web=512M to the sandbox's eu-prod controller
    assert sandbox.deis["eu-prod"].app("blog")["config"]["memory"] == {"web": "512M"}
    run_queued("sync")  # the Deis sync that follows brings the new limit into the panel

    page.goto(f"{live_server}/limits/drift?cluster=eu-prod")
    expect(page.locator("main")).not_to_contain_text("Enforce blog")
    page.goto(f"{live_server}/apps/{blog_id(db_session)}")
    expect(page.locator("main")).to_contain_text("512M")
    page.goto(f"{live_server}/limits/drift?cluster=eu-prod")
    screenshots.save(page, "07-limits-enforced")
    assert violations == []
    for name in ("default", "sync"):
        queue(name).empty()


def blog_id(session) -> int:
    from app.models import App

    session.expire_all()
    return session.scalar(select(App.id).where(App.name == "blog"))
