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
    assert refused_in_words(failed["error"])
    [callback] = callback_receiver.delivered(failed["id"])
    assert callback["state"] == "failed" and callback["error"] == failed["error"]
    assert_left_as_it_was(dbapi_admin_dsn, victim)


def scratch_archive(dbapi_pg, dbapi_admin_dsn, dbapi_names, tmp_path: Path, statements: str) -> Path:
    """A pg_dump -Fc archive of a scratch database the test's superuser filled with `statements` (what an uploader
    could have made anywhere, including objects only a superuser can create)."""
    name = dbapi_names("scratch")
    with psycopg.connect(dbapi_admin_dsn("postgres"), autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(dbapi_admin_dsn(name), autocommit=True) as connection:
        connection.execute(statements)
    archive = tmp_path / f"{name}.dump"
    subprocess.run([pgtools.tool_path(dbapi_pg, "pg_dump"), "-Fc", f"--dbname={dbapi_admin_dsn(name)}",
                    f"--file={archive}"], check=True, capture_output=True)
    return archive


def upload(dbapi_client, callback_receiver, target: dict, archive: Path) -> str:
    """PUT the archive to the target's upload URL with a fresh upload token; the id of the uploaded backup."""
    grant = dbapi_client.call("POST", "/tokens", json={
        "action": "upload", "database_id": target["database"]["id"], "callback_url": callback_receiver.url,
    }).json()
    with archive.open("rb") as body:
        response = dbapi_client.http.put(grant["url"], data=body, headers={"Authorization": f"Bearer {grant['token']}"},
                                         timeout=60)
    assert response.status_code == 201, response.text
    return response.json()["backup"]["id"]


def test_uploaded_hostile_archive_restored_makes_no_superuser(
    dbapi_pg, dbapi_client, callback_receiver, dbapi_names, dbapi_admin_dsn, victim, tmp_path
):
    archive = scratch_archive(dbapi_pg, dbapi_admin_dsn, dbapi_names, tmp_path, ESCALATE.format(
        function="escalate", payload=superuser_escalation(victim["database"]["username"])
    ) + "CREATE TABLE bait (id int PRIMARY KEY, CHECK (escalate())); INSERT INTO bait VALUES (1);")
    backup_id = upload(dbapi_client, callback_receiver, victim, archive)
    before = role_rights(dbapi_admin_dsn)

    failed = restore(dbapi_client, callback_receiver, victim, backup_id, expect="failed")

    assert role_rights(dbapi_admin_dsn) == before
    assert refused_in_words(failed["error"])
    assert callback_receiver.delivered(failed["id"])[0]["error"] == failed["error"]
    assert_left_as_it_was(dbapi_admin_dsn, victim)


def test_restore_time_code_runs_as_a_session_role_of_the_target_owner(
    dbapi_client, callback_receiver, dbapi_names, dbapi_admin_dsn, victim
):
    """The login really is the short-lived role (pg_hba trusts local connections in tests, so this is what proves
    the tools did not connect as the superuser): tenant code sees it as session_user, the owner as current_user."""
    source = create_database(dbapi_client, callback_receiver, dbapi_names("witness"))
    run_as_tenant(dbapi_admin_dsn, source, """
        CREATE TABLE witness (session_name text, current_name text, session_is_superuser boolean);
        CREATE FUNCTION note_session() RETURNS boolean LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO public.witness SELECT session_user, current_user, rolsuper FROM pg_roles WHERE rolname = session_user;
          RETURN true;
        END $$;
        CREATE TABLE noted (id int PRIMARY KEY, CHECK (note_session()));
        INSERT INTO noted VALUES (1);
        DELETE FROM witness;
    """)
    backup_id = backup_of(dbapi_client, callback_receiver, source)
    before = role_rights(dbapi_admin_dsn)

    restore(dbapi_client, callback_receiver, victim, backup_id, expect="succeeded")

    with psycopg.connect(dbapi_admin_dsn(victim["database"]["name"])) as connection:
        [(session_name, current_name, session_is_superuser)] = connection.execute(
            "SELECT session_name, current_name, session_is_superuser FROM witness"
        ).fetchall()
        owners = set(connection.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        ).fetchall())
    assert session_name.startswith(pgtools.SESSION_ROLE_PREFIX) and session_is_superuser is False
    assert current_name == victim["database"]["username"]
    assert owners == {(victim["database"]["username"],)}  # everything restored belongs to the target's owner
    assert role_rights(dbapi_admin_dsn) == before  # and the session role is gone again


# Generated columns and index expressions take only IMMUTABLE functions, and PostgreSQL forbids RESET in those; an
# immutable wrapper around the volatile escalation is the tenant's way around that.
IMMUTABLE_WRAPPER = ESCALATE.format(function="escalate", payload="{payload}") + """
CREATE FUNCTION looks_pure(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  PERFORM public.escalate();
  RETURN $1;
END $$;
"""
GENERATED_COLUMN = IMMUTABLE_WRAPPER + """
CREATE TABLE bait (id int PRIMARY KEY, derived int GENERATED ALWAYS AS (looks_pure(id)) STORED);
INSERT INTO bait (id) VALUES (1);
"""
INDEX_EXPRESSION = IMMUTABLE_WRAPPER + """
CREATE TABLE bait (id int PRIMARY KEY);
INSERT INTO bait VALUES (1);
CREATE INDEX bait_hook ON bait ((looks_pure(id)));
"""


@pytest.mark.parametrize("template", [GENERATED_COLUMN, INDEX_EXPRESSION], ids=["column_default", "index_expression"])
def test_hostile_column_default_or_index_expression_makes_no_superuser(
    dbapi_client, callback_receiver, dbapi_names, dbapi_admin_dsn, victim, template
):
    attacker = create_database(dbapi_client, callback_receiver, dbapi_names("attacker"))
    run_as_tenant(dbapi_admin_dsn, attacker, template.replace(
        "{payload}", superuser_escalation(victim["database"]["username"])
    ))
    backup_id = backup_of(dbapi_client, callback_receiver, attacker)
    before = role_rights(dbapi_admin_dsn)

    failed = restore(dbapi_client, callback_receiver, victim, backup_id, expect="failed")

    assert role_rights(dbapi_admin_dsn) == before
    # Either our session role is refused, or (index expressions) PostgreSQL's own security-restricted operation.
    assert refused_in_words(failed["error"]) or "security-restricted operation" in failed["error"]
    assert_left_as_it_was(dbapi_admin_dsn, victim)


def test_archive_with_an_event_trigger_makes_no_superuser(
    dbapi_pg, dbapi_client, callback_receiver, dbapi_names, dbapi_admin_dsn, victim, tmp_path
):
    """Only a superuser can make an event trigger, so the archive comes from a scratch database of the test's
    superuser: a CHECK function quietly drops back to the session user during COPY (so that a superuser session
    would create the event trigger), the event trigger escalates on the next DDL (the materialized view refresh
    that pg_restore runs last)."""
    victim_role = victim["database"]["username"]
    archive = scratch_archive(dbapi_pg, dbapi_admin_dsn, dbapi_names, tmp_path, f"""
        CREATE FUNCTION drop_back() RETURNS boolean LANGUAGE plpgsql AS $$
        BEGIN
          IF session_user <> current_user THEN RESET ROLE; END IF;
          RETURN true;
        END $$;
        CREATE TABLE bait (id int PRIMARY KEY, CHECK (drop_back()));
        INSERT INTO bait VALUES (1);
        CREATE FUNCTION escalate_on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
        BEGIN
          EXECUTE format('ALTER ROLE %I SUPERUSER', {sql_literal(victim_role)});
        END $$;
        CREATE MATERIALIZED VIEW bait_view AS SELECT id FROM bait;
        CREATE EVENT TRIGGER escalate ON ddl_command_end EXECUTE FUNCTION escalate_on_ddl();
        ALTER EVENT TRIGGER escalate DISABLE;
        ALTER EVENT TRIGGER escalate ENABLE ALWAYS;
    """)
    backup_id = upload(dbapi_client, callback_receiver, victim, archive)
    before = role_rights(dbapi_admin_dsn)

    failed = restore(dbapi_client, callback_receiver, victim, backup_id, expect="failed")

    assert role_rights(dbapi_admin_dsn) == before
    assert victim_role not in superusers(dbapi_admin_dsn)
    assert refused_in_words(failed["error"])
    assert_left_as_it_was(dbapi_admin_dsn, victim)
    with psycopg.connect(dbapi_admin_dsn(victim["database"]["name"])) as connection:
        assert connection.execute("SELECT count(*) FROM pg_event_trigger").fetchone() == (0,)


def refused_in_words(error: str) -> bool:
    """PostgreSQL refused a privileged statement, in the words of its version: 16+ says "permission denied to alter
    role", 15 (the CI machine's) "must be superuser to alter superuser roles or change superuser attribute"."""
    return "permission denied" in error or "must be superuser" in error


def untrusted_extension(dbapi_admin_dsn) -> str:
    """An installed-but-not-created extension that only a superuser may create (pgvector in pgserver; file_fdw
    or dblink with PostgreSQL's contrib; not adminpack, which must live in pg_catalog)."""
    with psycopg.connect(dbapi_admin_dsn("postgres")) as connection:
        row = connection.execute(
            "SELECT name FROM pg_available_extension_versions WHERE superuser AND NOT trusted "
            "AND name NOT IN ('plpgsql', 'adminpack') "
            "ORDER BY name = 'vector' DESC, name LIMIT 1"
        ).fetchone()
    assert row is not None, "the test server has no untrusted extension to try CREATE EXTENSION with"
    return row[0]


@pytest.fixture
def bystander(dbapi_client, callback_receiver, dbapi_names) -> dict:
    """A third tenant's database, which nothing restored into the victim may touch."""
    return create_database(dbapi_client, callback_receiver, dbapi_names("bystander"))


@pytest.mark.parametrize("attempt", ["alter_system", "copy_program", "create_extension", "other_database"])
def test_archive_that_reaches_beyond_its_database_fails_cleanly(
    dbapi_client, callback_receiver, dbapi_names, dbapi_admin_dsn, victim, bystander, attempt, tmp_path
):
    marker = Path(tempfile_dir()) / f"dbapi-attack-{secrets.token_hex(6)}"
    extension = untrusted_extension(dbapi_admin_dsn)
    attacker = create_database(dbapi_client, callback_receiver, dbapi_names("attacker"))
    copy_program = "COPY (SELECT 1) TO PROGRAM " + sql_literal(f"touch {marker}")
    payload, reason = {
        "alter_system": ("EXECUTE 'ALTER SYSTEM SET log_statement = ''none''';", "ALTER SYSTEM"),
        "copy_program": (
            f"EXECUTE {sql_literal(copy_program)};",
            ("permission denied to COPY to or from an external program",  # PostgreSQL 16+
             "must be superuser or have privileges of the pg_execute_server_program role"),  # 15
        ),
        "create_extension": (f"EXECUTE 'CREATE EXTENSION {extension} SCHEMA public';", "permission denied to create extension"),
        "other_database": (
            f"EXECUTE format('ALTER DATABASE %I OWNER TO %I', {sql_literal(bystander['database']['name'])}, "
            f"{sql_literal(attacker['database']['username'])});",
            "must be owner of database",
        ),
    }[attempt]
    run_as_tenant(dbapi_admin_dsn, attacker, ESCALATE.format(function="escalate", payload=payload)
                  + "CREATE TABLE bait (id int PRIMARY KEY, CHECK (escalate())); INSERT INTO bait VALUES (1);")
    backup_id = backup_of(dbapi_client, callback_receiver, attacker)
    before = role_rights(dbapi_admin_dsn), server_settings_file(dbapi_admin_dsn)

    failed = restore(dbapi_client, callback_receiver, victim, backup_id, expect="failed")

    reasons = (reason,) if isinstance(reason, str) else reason
    assert any(words in failed["error"] for words in reasons), failed["error"]
    [callback] = callback_receiver.delivered(failed["id"])
    assert callback["state"] == "failed" and callback["error"] == failed["error"]
    assert (role_rights(dbapi_admin_dsn), server_settings_file(dbapi_admin_dsn)) == before
    assert not marker.exists()
    assert_left_as_it_was(dbapi_admin_dsn, victim)
    with psycopg.connect(dbapi_admin_dsn(victim["database"]["name"])) as connection:
        assert connection.execute("SELECT count(*) FROM pg_extension WHERE extname = %s", (extension,)).fetchone() == (0,)


def tempfile_dir() -> str:
    # /tmp rather than pytest's tmp_path: the server's own OS user must be able to write there for the attack
    # to leave its mark if it ever succeeded.
    return "/tmp"


def server_settings_file(admin_dsn) -> list[tuple]:
    """What ALTER SYSTEM would have written (postgresql.auto.conf, as the server reads it)."""
    with psycopg.connect(admin_dsn("postgres")) as connection:
        return connection.execute(
            "SELECT sourcefile, name, setting FROM pg_file_settings ORDER BY sourcefile, seqno"
        ).fetchall()
