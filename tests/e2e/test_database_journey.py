"""In Chromium, against the real Databases API (PostgreSQL, pg_dump/pg_restore, its worker) and the sandbox's Deis:
an admin creates billing's and blog's databases from their app pages, captures a backup of billing, and clones it
to blog; htmx shows each operation's progress until it ends. No CSP violation."""
from __future__ import annotations

import dataclasses

from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.databases.conftest import *  # noqa: F401,F403  (synced, clients, dbapi and the live dbapi fixtures)
from tests.databases.conftest import app_named
from tests.e2e import screenshots
from tests.e2e.test_security_policy import violations_of

OPERATION_TIMEOUT = 120_000  # ms: a real create, pg_dump and pg_restore on two busy cores


def test_create_a_database_capture_a_backup_and_clone_it(page, live_server, make_user, app, synced, clients, dbapi,
                                                         dbapi_url, monkeypatch, dbapi_names):
    from app.operations import database_provisioning

    monkeypatch.setitem(app.config, "SETTINGS", dataclasses.replace(app.config["SETTINGS"], dbapi_url=dbapi_url,
                                                                    panel_url=live_server))
    prefix = dbapi_names("e") + "_"
    original = database_provisioning.database_name_for
    monkeypatch.setattr(database_provisioning, "database_name_for", lambda app: prefix + original(app))
    billing, blog = app_named("billing"), app_named("blog")
    make_user("root", "admin")
    violations = violations_of(page)

    page.goto(f"{live_server}/login")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    for target in (blog, billing):
        page.goto(f"{live_server}/apps/{target.id}")
        page.locator("#database").get_by_role("button", name="Create database").click()
        expect(page.locator("#database .badge").first).to_have_text("ready", timeout=OPERATION_TIMEOUT)

    backups = page.locator("#backups")
    backups.get_by_role("button", name="Capture now").click()
    first_row = backups.locator("tbody tr").first
    expect(first_row).to_contain_text("manual")
    expect(first_row.locator(".badge")).to_have_text("succeeded", timeout=OPERATION_TIMEOUT)
    backup_id = first_row.locator("td").first.inner_text()

    first_row.get_by_label("Clone to").fill(f"{blog.cluster.name}/{blog.name}")
    first_row.get_by_role("button", name="Clone to another app").click()
    page.goto(f"{live_server}/apps/{blog.id}")
    cloned = page.locator("#backups tbody tr", has_text=f"(of #{backup_id})")
    expect(cloned).to_contain_text("cloned")
    page.wait_for_function("!document.querySelector('#database-panel[hx-trigger]')", timeout=OPERATION_TIMEOUT)
    screenshots.save(page, "06-database-backup-clone", focus=page.locator("#database"))
    assert violations == []
