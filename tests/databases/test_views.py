"""The app page's database and backups section as an admin uses it: create, capture now, restore (typed name),
clone to another app; a hand-set DATABASE_URL is shown masked and only replaced after typing the app's name."""
from __future__ import annotations

import dataclasses
import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Backup, Operation
from tests.databases.conftest import app_named, wait_finished
from tests.databases.test_provisioning_and_backups import PRIMARY, deis_config


@pytest.fixture
def admin(app, synced, clients, dbapi, dbapi_url, live_server, monkeypatch, login_as, client, dbapi_names):
    from app.operations import database_provisioning

    monkeypatch.setitem(app.config, "SETTINGS", dataclasses.replace(app.config["SETTINGS"], dbapi_url=dbapi_url,
                                                                    panel_url=live_server))
    prefix = dbapi_names("v") + "_"
    original = database_provisioning.database_name_for
    monkeypatch.setattr(database_provisioning, "database_name_for", lambda app: prefix + original(app))
    login_as("admin", username="alice")
    token = client.get("/").get_data(as_text=True).split('name="csrf-token" content="')[1].split('"')[0]
    return lambda path, **form: client.post(path, data={"csrf_token": token, **form}, follow_redirects=True)


def latest_operation() -> Operation:
    return wait_finished(db.session.scalars(select(Operation).order_by(Operation.id.desc())).first())


def page_of(client, name: str) -> str:
    return client.get(f"/apps/{app_named(name).id}").get_data(as_text=True)


def test_create_capture_restore_and_clone_from_the_app_page(admin, client, sandbox):
    billing, blog = app_named("billing"), app_named("blog")
    for app in (billing, blog):
        response = admin(f"/apps/{app.id}/database")
        assert response.status_code == 200 and f"Creating database for {app.name}" in response.get_data(as_text=True)
        assert latest_operation().state == "succeeded"
    assert urlsplit(deis_config(sandbox, "billing")["DATABASE_URL"]).hostname == PRIMARY
    page = page_of(client, "billing")
    assert "Capture now" in page and PRIMARY in page and ">ready<" in page

    admin(f"/apps/{billing.id}/backups")
    assert latest_operation().state == "succeeded"
    backup = db.session.scalars(select(Backup).where(Backup.database_id == billing.database.id)).one()
    page = page_of(client, "billing")
    assert re.search(rf"<td>{backup.id}</td>.*?manual.*?succeeded", page, re.S)
    assert "<polyline" in page and "Backup sizes over time" in page

    refused = admin(f"/apps/{billing.id}/backups/{backup.id}/restore", confirm="not-billing").get_data(as_text=True)
    assert "Type the app&#39;s name (billing)" in refused and "Nothing was changed." in refused
    assert db.session.query(Operation).filter_by(kind="database.restore").count() == 0
    admin(f"/apps/{billing.id}/backups/{backup.id}/restore", confirm="billing")
    restore = latest_operation()
    assert (restore.kind, restore.state) == ("database.restore", "succeeded")

    admin(f"/apps/{billing.id}/backups/{backup.id}/verify")
    assert latest_operation().kind == "backup.verify" and latest_operation().state == "succeeded"
    assert re.search(r">verified</span> <small>\d+ tables, \d+ rows</small>", page_of(client, "billing"))

    cloned = admin(f"/apps/{billing.id}/backups/{backup.id}/clone", target=str(blog.id)).get_data(as_text=True)
    assert "restore it from blog" in cloned
    assert re.search(r"cloned <small>\(of #%d\)</small>" % backup.id, page_of(client, "blog"))
    actions = set(db.session.scalars(select(AuditEvent.action).where(AuditEvent.actor == "alice")))
    assert {"database.create", "backup.capture", "backup.restore", "backup.verify", "backup.clone"} <= actions


def test_a_hand_set_database_url_shows_masked_and_needs_the_typed_name(admin, client, sandbox):
    shop = app_named("shop")
    page = page_of(client, "shop")
    assert "DATABASE_URL was set by hand and points at" in page and "primary.db.eu-prod.example.net" in page
    assert "s3cr3t-shop-db-password" not in page
    refused = admin(f"/apps/{shop.id}/database").get_data(as_text=True)
    assert "set by hand" in refused and "Nothing was changed." in refused
    assert "s3cr3t-shop-db-password" in deis_config(sandbox, "shop")["DATABASE_URL"]
    admin(f"/apps/{shop.id}/database", confirm="shop")
    assert latest_operation().state == "succeeded"
    assert "s3cr3t-shop-db-password" not in deis_config(sandbox, "shop")["DATABASE_URL"]


def test_restore_asks_for_the_password_again_when_it_is_stale(admin, client):
    from app.models import Database

    billing = app_named("billing")
    database = Database(app_id=billing.id, cluster_id=billing.cluster_id, name="billing_x", username="billing_x",
                        host=PRIMARY, state="ready", dbapi_id="00000000-0000-4000-8000-000000000001")
    db.session.add(database)
    db.session.flush()
    backup = Backup(database_id=database.id, dbapi_backup_id="00000000-0000-4000-8000-000000000002",
                    kind="manual", state="succeeded", size_bytes=10)
    db.session.add(backup)
    db.session.commit()
    with client.session_transaction() as session:
        session["reauth_at"] -= 3600
    asked = admin(f"/apps/{billing.id}/backups/{backup.id}/restore", confirm="billing").get_data(as_text=True)
    assert 'name="reauth_password"' in asked
    assert db.session.query(Operation).filter_by(kind="database.restore").count() == 0

    admin(f"/apps/{billing.id}/backups/{backup.id}/restore", confirm="billing",
          reauth_password="correct horse battery staple")
    [restore] = db.session.query(Operation).filter_by(kind="database.restore").all()
    # dbapi knows no such database: the operation fails in dbapi's words and nothing else changes.
    assert restore.state == "failed" and "no database with id" in restore.error


def test_the_rotation_dry_run_page_shows_what_the_policy_would_delete_and_deletes_nothing(admin, client):
    from datetime import timedelta

    from app.models import App, Database, utcnow
    from tests import factories as make

    app = db.session.scalar(select(App).where(App.name == "billing"))
    database = Database(app_id=app.id, cluster_id=app.cluster_id, name="billing", username="billing",
                        host="primary.db.eu-prod.example.net", state="ready", dbapi_id="db-billing")
    db.session.add(database)
    db.session.flush()
    now = utcnow()
    for day in range(10):  # ten nightly backups: the default policy keeps 7 daily, and a weekly/monthly among them
        make.backup(db.session, database, kind="scheduled", started_at=now - timedelta(days=day))
    db.session.commit()

    page = client.get(f"/apps/{app.id}/backups/rotation")
    html = " ".join(page.get_data(as_text=True).split())
    assert page.status_code == 200 and "dry run" in html
    assert "keep 7 daily, 4 weekly and 6 monthly" in html
    would_delete = html.count(">delete</span>")
    assert would_delete >= 1 and f"<strong>{would_delete}</strong> would be deleted now" in html
    assert db.session.query(Backup).filter_by(database_id=database.id, state="succeeded").count() == 10
    assert client.get("/apps/999999/backups/rotation").status_code == 404
