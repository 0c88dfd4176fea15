"""Tenant content is hostile: restores and dumps must never lend it more rights than the tenant's own role.

Each test plays the attacker through the HTTP API only (plus a scratch database made by the test's superuser where
an archive needs objects a tenant cannot create itself) and then compares what every role may do, before and
after. The attack of issue 8: the owner of database A writes a function that, when it runs under another session
user than its current user (a restore that connected as a superuser and only did SET ROLE), does RESET ROLE and
makes the owner of B a superuser; a backup (or upload) of A restored into B must not let it.
"""
from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from dbapi import pgtools
from tests.dbapi.test_operations import app_dsn, create_database, load_shop, shop_rows

ESCALATE = """
CREATE FUNCTION {function}() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF session_user <> current_user THEN
    RESET ROLE;
    {payload}
  END IF;
  RETURN true;
END $$;
"""


def superuser_escalation(victim_role: str) -> str:
    return f"EXECUTE format('ALTER ROLE %I SUPERUSER', {sql_literal(victim_role)});"


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def role_rights(admin_dsn) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """Everything that says what a role may do: its attributes, its memberships, and who owns which database."""
    with psycopg.connect(admin_dsn("postgres")) as connection:
        roles = connection.execute(
            "SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, "
            "rolbypassrls FROM pg_roles ORDER BY rolname"
        ).fetchall()
        members = connection.execute(
            "SELECT pg_get_userbyid(roleid), pg_get_userbyid(member), admin_option FROM pg_auth_members "
            "ORDER BY 1, 2"
        ).fetchall()
        owners = connection.execute(
            "SELECT datname, pg_get_userbyid(datdba) FROM pg_database ORDER BY datname"
        ).fetchall()
    return roles, members, owners


def superusers(admin_dsn) -> set[str]:
    with psycopg.connect(admin_dsn("postgres")) as connection:
        return {name for (name,) in connection.execute("SELECT rolname FROM pg_roles WHERE rolsuper")}


def run_as_tenant(admin_dsn, payload: dict, statements: str) -> None:
    """Run SQL the way the tenant itself can: its own role and password, in its own database."""
    with psycopg.connect(app_dsn(admin_dsn, payload), autocommit=True) as connection:
        connection.execute(statements)


def tables_of(admin_dsn, dbname: str) -> list[str]:
    with psycopg.connect(admin_dsn(dbname)) as connection:
        return [name for (name,) in connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )]


@pytest.fixture
def victim(dbapi_client, callback_receiver, dbapi_names, dbapi_admin_dsn) -> dict:
    """Database B: a tenant with 7 orders, the target of every hostile restore."""
    payload = create_database(dbapi_client, callback_receiver, dbapi_names("victim"))
    load_shop(app_dsn(dbapi_admin_dsn, payload), rows=7)
    return payload


def restore(dbapi_client, callback_receiver, target: dict, backup_id: str, expect: str) -> dict:
    return dbapi_client.run(
        "POST", f"/databases/{target['database']['id']}/restore",
        json={"backup_id": backup_id, "callback_url": callback_receiver.url}, expect=expect,
    )


def backup_of(dbapi_client, callback_receiver, source: dict) -> str:
    operation = dbapi_client.run(
        "POST", f"/databases/{source['database']['id']}/backups", json={"callback_url": callback_receiver.url}
    )
    return operation["backup_id"]


def assert_left_as_it_was(dbapi_admin_dsn, victim: dict) -> None:
    assert tables_of(dbapi_admin_dsn, victim["database"]["name"]) == ["orders"]
    assert len(shop_rows(app_dsn(dbapi_admin_dsn, victim))) == 7


def test_backup_of_a_hostile_tenant_restored_elsewhere_makes_no_superuser(
    dbapi_client, callback_receiver, dbapi_names, dbapi_admin_dsn, victim
):
    attacker = create_database(dbapi_client, callback_receiver, dbapi_names("attacker"))
    run_as_tenant(dbapi_admin_dsn, attacker, ESCALATE.format(
        function="escalate", payload=superuser_escalation(victim["database"]["username"])
    ) + "CREATE TABLE bait (id int PRIMARY KEY, CHECK (escalate())); INSERT INTO bait VALUES (1);")
    backup_id = backup_of(dbapi_client, callback_receiver, attacker)
    before = role_rights(dbapi_admin_dsn)

    failed = restore(dbapi_client, callback_receiver, victim, backup_id, expect="failed")

    assert role_rights(dbapi_admin_dsn) == before
    assert victim["database"]["username"] not in superusers(dbapi_admin_dsn)
    assert "permission denied" in failed["error"]
    [callback] = callback_receiver.delivered(failed["id"])
    assert callback["state"] == "failed" and callback["error"] == failed["error"]
    assert_left_as_it_was(dbapi_admin_dsn, victim)
