"""In Chromium: an admin plans a switch of a demo cluster, reviews the diff, applies it and watches the progress, then
rolls it back in one click; the records in the Cloudflare simulator end exactly as they began. No CSP violation."""
from __future__ import annotations

import dataclasses

import pytest
from playwright.sync_api import expect
from rq import SimpleWorker

from app.queues import queue, redis_connection
from tests.conftest import PASSWORD
from tests.e2e import screenshots
from tests.e2e.test_security_policy import violations_of
from tests.operations.conftest import demo, demo_scenario  # noqa: F401 (fixtures)

SHAPE = ("name", "type", "content", "ttl", "proxied", "comment")


@pytest.fixture
def demo_panel(app, demo, monkeypatch):
    settings = demo.clients.settings
    monkeypatch.setitem(app.config, "SETTINGS", dataclasses.replace(
        app.config["SETTINGS"], cloudflare_api_token=settings.cloudflare_api_token,
        cloudflare_base_url=settings.cloudflare_base_url))
    for name in ("default", "sync"):
        queue(name).empty()
    yield demo
    for name in ("default", "sync"):
        queue(name).empty()


def run_worker() -> None:
    """Play the worker: run the queued apply job here while the browser keeps polling the live server."""
    SimpleWorker([queue("default")], connection=redis_connection()).work(burst=True)


def shapes(world) -> list[tuple]:
    return sorted(tuple(r[f] for f in SHAPE) for r in world.records("contoso-pay.com"))


def test_plan_apply_and_roll_back_a_cluster_switch_in_the_browser(page, live_server, make_user, demo_panel, app):
    before = shapes(demo_panel)
    make_user("root", "admin")
    violations = violations_of(page)
    page.goto(f"{live_server}/login")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.goto(f"{live_server}/change-sets/")
    switch = page.locator("#plan-switch")
    switch.locator("select[name=source]").select_option("eu-prod")
    switch.locator("select[name=target]").select_option("eu-staging")
    switch.get_by_label("Only zone").select_option("contoso-pay.com")
    switch.get_by_role("button", name="Plan the switch").click()

    expect(page.locator("#change-set-state")).to_have_text("planned")
    diff = page.locator("#diff tbody tr")
    expect(diff).to_have_count(2)
    expect(page.locator("#diff")).to_contain_text("api.contoso-pay.com")
    expect(page.locator("#diff")).to_contain_text("dashboard.contoso-pay.com")
    page.get_by_role("button", name="Apply 2 changes").click()
    expect(page.locator("#change-set-state")).to_have_text("applying")
    run_worker()
    expect(page.locator("#change-set-state")).to_have_text("applied")  # htmx polling picked the outcome up
    assert shapes(demo_panel) != before

    page.get_by_role("button", name="Roll back to the exact before state").click()
    expect(page.locator("h2")).to_contain_text("Rollback of change set")
    run_worker()
    expect(page.locator("#change-set-state")).to_have_text("applied")
    assert shapes(demo_panel) == before
    screenshots.save(page, "05-cluster-switch-rollback", focus=page.locator("h2"))
    page.goto(f"{live_server}/change-sets/")
    expect(page.locator("#change-sets")).to_contain_text("rolled_back")
    assert violations == []
