"""`flask databases create` and `flask backups capture/list/restore/clone` as an operator runs them, against the live
dbapi (its callbacks reach the live panel) and the Deis simulator."""
from __future__ import annotations

import dataclasses
import json
from urllib.parse import urlsplit

import pytest

from app.models import Database
from tests.databases.test_provisioning_and_backups import PRIMARY, deis_config


@pytest.fixture
def cli(app, synced, clients, dbapi, dbapi_url, live_server, monkeypatch):
    monkeypatch.setitem(app.config, "SETTINGS", dataclasses.replace(app.config["SETTINGS"], dbapi_url=dbapi_url,
                                                                    panel_url=live_server))
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


@pytest.fixture(autouse=True)
def unique_names(monkeypatch, dbapi_names):
    # Each test gets database names of its own under the session prefix (dbapi_pg drops them at the end).
    from app.operations import database_provisioning

    prefix = dbapi_names("c") + "_"
    original = database_provisioning.database_name_for
    monkeypatch.setattr(database_provisioning, "database_name_for", lambda app: prefix + original(app))


def test_create_capture_list_restore_and_refusals(cli, sandbox, db_session):
    created = cli("databases", "create", "billing", "--wait", "--timeout", "120")
    assert created.exit_code == 0, created.output
    assert "succeeded (DATABASE_URL set for billing)" in created.output
    assert urlsplit(deis_config(sandbox, "billing")["DATABASE_URL"]).hostname == PRIMARY

    again = cli("databases", "create", "billing")
    assert again.exit_code == 1 and "billing already has database" in again.output
    assert "Nothing was changed." in again.output
    assert db_session.query(Database).count() == 1

    captured = cli("backups", "capture", "billing", "--wait", "--timeout", "120")
    assert captured.exit_code == 0 and "database.backup" in captured.output and "succeeded" in captured.output
    listed = json.loads(cli("backups", "list", "billing", "--json").output)
    [backup] = listed["backups"]
    assert (backup["kind"], backup["state"]) == ("manual", "succeeded") and backup["size_bytes"] > 0

    restored = cli("backups", "restore", "billing", str(backup["id"]), "--wait", "--timeout", "120")
    assert restored.exit_code == 0 and "database.restore" in restored.output, restored.output

    no_database = cli("backups", "clone", str(backup["id"]), "--to", "blog")
    assert no_database.exit_code == 1 and "blog has no ready database" in no_database.output
    not_its = cli("backups", "restore", "reports", str(backup["id"]))
    assert not_its.exit_code == 1 and "reports has no database" in not_its.output


def test_a_hand_set_database_url_is_replaced_only_with_replace(cli, sandbox):
    hand_set = deis_config(sandbox, "shop")["DATABASE_URL"]
    refused = cli("databases", "create", "shop")
    assert refused.exit_code == 1 and "set by hand" in refused.output
    assert "s3cr3t-shop-db-password" not in refused.output  # where it points, with the password masked
    assert deis_config(sandbox, "shop")["DATABASE_URL"] == hand_set

    replaced = cli("databases", "create", "shop", "--replace", "--wait", "--timeout", "120")
    assert replaced.exit_code == 0, replaced.output
    assert deis_config(sandbox, "shop")["DATABASE_URL"] != hand_set
    assert urlsplit(deis_config(sandbox, "shop")["DATABASE_URL"]).hostname == PRIMARY
