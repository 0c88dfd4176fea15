"""Faults on the way: a retried request never creates twice, dbapi's refusals come back in its own words, a
database dbapi could not create leaves the app untouched, and a controller that is down when the result arrives
gets the same result again (the config is only written once it can be)."""
from __future__ import annotations

import time
import uuid

import psycopg
import pytest
from psycopg import sql

from app.clients import PlatformClients
from app.config import Settings
from app.extensions import db
from app.models import Database
from app.services.databases_api import DatabasesApiError
from app.operations.database_provisioning import create_database
from tests.databases.conftest import app_named, wait_finished
from tests.databases.test_provisioning_and_backups import deis_config


def test_the_same_request_id_returns_the_same_operation_and_another_body_is_refused(dbapi, dbapi_names):
    request_id = str(uuid.uuid4())
    name = dbapi_names("retry")
    first = dbapi.create_database(name=name, server="main", request_id=request_id)
    again = dbapi.create_database(name=name, server="main", request_id=request_id)  # a retry after a lost answer
    assert again.id == first.id
    with pytest.raises(DatabasesApiError) as refused:
        dbapi.create_database(name=dbapi_names("other"), server="main", request_id=request_id)
    assert refused.value.status == 409 and "request_id" in refused.value.reason
    with pytest.raises(DatabasesApiError, match=r"server.*\(HTTP 422\)"):
        dbapi.create_database(name=dbapi_names("x"), server="nowhere", request_id=str(uuid.uuid4()))


def test_database_server_defaults_to_the_cluster_name(sandbox, settings):
    environ = {"ADMIN_PANEL_INSTANCE_DIR": str(settings.instance_dir), **sandbox.env(),
               "PANEL_URL": "https://panel.example.com/", "DBAPI_URL": "https://dbapi.example.com"}
    clients = PlatformClients(Settings.from_env(environ))
    assert clients.database_server("eu-prod") == "eu-prod"
    assert clients.databases_api().callback_url == "https://panel.example.com/dbapi/callbacks"
    assert clients.databases_api().base_url == "https://dbapi.example.com"


def test_a_database_dbapi_cannot_create_fails_in_its_words_and_leaves_the_app_alone(
        synced, dbapi, sandbox, dbapi_names, dbapi_admin_dsn):
    prefix = dbapi_names("taken") + "_"
    with psycopg.connect(dbapi_admin_dsn("postgres"), autocommit=True) as connection:  # someone else's database
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(prefix + "billing")))
    before = deis_config(sandbox, "billing")
    operation = wait_finished(create_database(db.session, dbapi, app_named("billing"), server="main",
                                              actor="alice", name_prefix=prefix))
    assert operation.state == "failed" and "already exists" in operation.error
    assert deis_config(sandbox, "billing") == before
    db.session.expire_all()
    assert app_named("billing").database is None


def test_an_app_deleted_before_its_database_is_ready_ends_the_operation_failed_and_keeps_the_database(
        synced, dbapi, sandbox, dbapi_names):
    # Deleted from Deis after the panel last synced it: the result arrives for an app no retry can reach.
    sandbox.deis["eu-prod"].delete_app("billing")
    operation = create_database(db.session, dbapi, app_named("billing"), server="main", actor="alice",
                                name_prefix=dbapi_names("gone") + "_")
    finished = wait_finished(operation)
    assert finished.state == "failed"
    assert "no longer exists in Deis, so DATABASE_URL was not set" in finished.error
    database = db.session.get(Database, int(finished.target_id))
    assert database.state == "ready" and database.dbapi_id  # kept and visible, not lost
    # dbapi was told it was applied: its delivery is over, nothing comes back to change the outcome.
    time.sleep(1)
    db.session.expire_all()
    assert db.session.get(type(operation), operation.id).state == "failed"


def test_a_controller_down_when_the_result_arrives_gets_it_again_later(synced, dbapi, sandbox, dbapi_names):
    before = deis_config(sandbox, "billing")
    sandbox.deis["eu-prod"].faults.configure(error_rate=1.0, error_statuses=[503])
    operation = create_database(db.session, dbapi, app_named("billing"), server="main", actor="alice",
                                name_prefix=dbapi_names("down") + "_")
    deadline = time.monotonic() + 60
    while "setting DATABASE_URL failed" not in (operation.progress_message or ""):
        assert time.monotonic() < deadline, operation.progress_message
        time.sleep(0.2)
        db.session.expire_all()
        operation = db.session.get(type(operation), operation.id)
    assert operation.state == "running"  # not finished: the result is not lost
    sandbox.deis["eu-prod"].faults.clear()
    assert deis_config(sandbox, "billing") == before

    finished = wait_finished(operation)
    assert finished.state == "succeeded", finished.error
    assert "DATABASE_URL" in deis_config(sandbox, "billing")
