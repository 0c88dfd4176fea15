"""Cloning a backup from the app page names its target by text (`cluster/app`, an unambiguous app name, or the id
older forms sent), suggested by a short datalist instead of a <select> of every app with a database."""
from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Backup
from app.queries.databases import CLONE_SUGGESTIONS
from tests import factories as make
from tests.views.sql_statements import counting_statements


@pytest.fixture
def backups(db_session):
    """billing (owner alice, a succeeded backup), blog (alice) and shop (bob) with ready databases, a `shop` on a
    second cluster with one too, and `draft` with none."""
    eu, us = make.cluster(db_session, "prod-eu"), make.cluster(db_session, "prod-us")
    billing = make.app(db_session, "billing", eu, owner="alice")
    blog = make.app(db_session, "blog", eu, owner="alice")
    shop_eu = make.app(db_session, "shop", eu, owner="bob")
    shop_us = make.app(db_session, "shop", us, owner="bob")
    draft = make.app(db_session, "draft", eu, owner="alice")
    databases = {app.id: make.database(db_session, app, f"{app.name}_{app.cluster.name}".replace("-", "_"))
                 for app in (billing, blog, shop_eu, shop_us)}
    backup = make.backup(db_session, databases[billing.id], kind="manual", dbapi_backup_id="bk-billing-1")
    db_session.commit()
    return {"billing": billing, "blog": blog, "shop_eu": shop_eu, "shop_us": shop_us, "draft": draft,
            "backup": backup, "databases": databases}


@pytest.fixture
def post_clone(client, login_as, backups):
    login_as("admin", username="alice")
    token = client.get("/").get_data(as_text=True).split('name="csrf-token" content="')[1].split('"')[0]
    billing, backup = backups["billing"], backups["backup"]

    def post(target: str) -> str:
        response = client.post(f"/apps/{billing.id}/backups/{backup.id}/clone",
                               data={"csrf_token": token, "target": target}, follow_redirects=True)
        assert response.status_code == 200
        return unescape(response.get_data(as_text=True))
    return post


def clones_of(database) -> list[Backup]:
    return list(db.session.scalars(select(Backup).where(Backup.database_id == database.id, Backup.kind == "cloned")))


@pytest.mark.parametrize("target", ["prod-us/shop", "prod-eu/blog", "blog"])
def test_clone_to_an_app_named_by_cluster_and_name_or_by_an_unambiguous_name(post_clone, backups, target):
    html = post_clone(target)
    name = target.rpartition("/")[2]
    target_app = {"prod-us/shop": backups["shop_us"]}.get(target, backups["blog"])
    assert f"restore it from {name}'s page" in html
    [cloned] = clones_of(backups["databases"][target_app.id])
    assert cloned.cloned_from_id == backups["backup"].id
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "backup.clone")).one()
    assert audit.actor == "alice"


def test_the_numeric_id_older_forms_send_still_clones(post_clone, backups):
    html = post_clone(str(backups["blog"].id))
    assert "restore it from blog's page" in html
    assert len(clones_of(backups["databases"][backups["blog"].id])) == 1


@pytest.mark.parametrize("target, message", [
    ("nowhere", "No app called 'nowhere'."),
    ("prod-us/blog", "No app called 'prod-us/blog'."),
    ("shop", "'shop' is on several clusters: say which, like prod-eu/shop."),
    ("draft", "draft has no ready database: create one first"),
    ("   ", "Name the app to clone the backup to, like cluster/app."),
    ("999999999999", "No app with id 999999999999."),
])
def test_an_unknown_ambiguous_or_databaseless_target_changes_nothing(post_clone, backups, target, message):
    html = post_clone(target)
    assert message in html and "Nothing was changed." in html
    assert db.session.scalars(select(Backup).where(Backup.kind == "cloned")).all() == []
    assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "backup.clone")).all() == []


def test_the_datalist_suggests_the_same_owners_apps_with_a_ready_database(client, login_as, backups):
    login_as("admin")
    html = client.get(f"/apps/{backups['billing'].id}").get_data(as_text=True)
    assert re.findall(r'<option value="([^"]+)">', html[html.index('<datalist id="clone-targets">'):]) == [
        "prod-eu/blog"]
    assert 'list="clone-targets"' in html and 'aria-label="Clone to"' in html


def test_a_viewer_sees_no_clone_form_nor_suggestions(client, login_as, backups):
    login_as("viewer")
    html = client.get(f"/apps/{backups['billing'].id}").get_data(as_text=True)
    assert "clone-targets" not in html and "Clone to another app" not in html


def test_admin_app_page_statements_and_suggestions_do_not_grow_with_other_apps(client, login_as, db_session,
                                                                               backups):
    cluster = backups["billing"].cluster

    def add_apps(count: int, start: int) -> None:
        for number in range(start, start + count):
            other = make.app(db_session, f"other-{number:04d}", cluster, owner="alice" if number % 2 else "carol")
            make.database(db_session, other, f"db_other_{number}")
        db_session.commit()

    add_apps(10, 0)
    login_as("admin")
    with counting_statements() as few:
        assert client.get(f"/apps/{backups['billing'].id}").status_code == 200
    add_apps(300, 10)
    with counting_statements() as many:
        html = client.get(f"/apps/{backups['billing'].id}").get_data(as_text=True)
    suggestions = re.findall(r'<option value="([^"]+)">', html[html.index('<datalist id="clone-targets">'):])
    assert len(suggestions) == CLONE_SUGGESTIONS and all(s.startswith("prod-eu/") for s in suggestions)
    assert len(many) == len(few), many
