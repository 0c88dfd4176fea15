"""PostgreSQL administration against a real server: roles and databases, real pg_dump and pg_restore."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import os
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from dbapi import pgarchive, pgtools
from dbapi.crypto import BackupIntegrityError, Digest, MasterKeys, decrypt_stream, encrypt_stream
from dbapi.pgtools import DatabaseCredentials, InvalidNameError, PgServer, PgToolError
from dbapi.storage import LocalStorage

INJECTION_NAMES = [
    "shop; DROP DATABASE postgres",
    'shop"; DROP ROLE postgres; --',
    "Robert'); DROP TABLE students;--",
    "shop--",
    "Shop",
    "1shop",
    "",
    "a" * 64,
    "pg_shop",
    "postgres",
    "template1",
    "name with space",
    "shöp",
    "shop-name",
    "shop\x00",
]


@pytest.fixture
def database(dbapi_pg: PgServer, dbapi_names) -> Iterator[DatabaseCredentials]:
    """A fresh database made by create_role_and_database, dropped afterwards."""
    credentials = pgtools.create_role_and_database(dbapi_pg, dbapi_names("db"), dbapi_names("owner"))
    yield credentials
    pgtools.drop_database(dbapi_pg, credentials.dbname, credentials.username)


second_database = database


def app_connect(server: PgServer, credentials: DatabaseCredentials) -> psycopg.Connection:
    """Connect the way the application would: its own role and password, to its own database."""
    conninfo = make_conninfo(
        server.dsn, dbname=credentials.dbname, user=credentials.username, password=credentials.password
    )
    return psycopg.connect(conninfo)


def load_shop(server: PgServer, credentials: DatabaseCredentials, rows: int = 3000) -> None:
    with app_connect(server, credentials) as conn:
        conn.execute(
            "CREATE TABLE orders (id serial PRIMARY KEY, customer text NOT NULL, total numeric(10,2), "
            "placed_at timestamptz, tags text[], payload jsonb, blob bytea)"
        )
        conn.execute(
            "INSERT INTO orders (customer, total, placed_at, tags, payload, blob) "
            "SELECT 'customer-' || i, i * 1.25, timestamptz '2024-01-01' + i * interval '1 minute', "
            "ARRAY['t' || (i %% 7)], jsonb_build_object('n', i, 'note', md5(i::text)), sha256(i::text::bytea) "
            "FROM generate_series(1, %s) AS i",
            (rows,),
        )
        conn.execute("CREATE INDEX orders_customer ON orders (customer)")
        conn.execute("CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100")


def shop_rows(server: PgServer, credentials: DatabaseCredentials) -> list[tuple]:
    with app_connect(server, credentials) as conn:
        return conn.execute("SELECT * FROM orders ORDER BY id").fetchall()


def admin_scalar(server: PgServer, query: str, *params: object) -> object:
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        row = conn.execute(query, params).fetchone()
        return row[0] if row else None


def scram_matches(server: PgServer, role: str, password: str) -> bool:
    """Check ``password`` against the SCRAM verifier the server stores for ``role`` (RFC 5802)."""
    stored = str(admin_scalar(server, "SELECT rolpassword FROM pg_authid WHERE rolname = %s", role))
    method, rest = stored.split("$", 1)
    assert method == "SCRAM-SHA-256"
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key = base64.b64decode(keys.split(":")[0])
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return hashlib.sha256(client_key).digest() == stored_key


def roles_and_databases(server: PgServer) -> tuple[int, int]:
    return (
        int(admin_scalar(server, "SELECT count(*) FROM pg_roles")),  # type: ignore[arg-type]
        int(admin_scalar(server, "SELECT count(*) FROM pg_database")),  # type: ignore[arg-type]
    )


# --- roles and databases --------------------------------------------------------------------------------------


def test_create_gives_working_credentials_and_a_private_database(dbapi_pg, database, second_database):
    assert (database.host, database.port) == (dbapi_pg.host, dbapi_pg.port)
    assert len(database.password) >= 40
    assert database.password not in repr(database)
    assert scram_matches(dbapi_pg, database.username, database.password)
    assert admin_scalar(
        dbapi_pg, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", database.dbname
    ) == database.username
    with app_connect(dbapi_pg, database) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (
            database.username,
            database.dbname,
        )
    # PUBLIC lost CONNECT: another application's role cannot even open this database.
    intruder = dataclasses.replace(second_database, dbname=database.dbname)
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        app_connect(dbapi_pg, intruder).close()
    assert database.url.startswith(f"postgresql://{database.username}:")


def test_create_is_idempotent_and_resets_the_password(dbapi_pg, dbapi_names):
    name, role = dbapi_names("again"), dbapi_names("again_owner")
    first = pgtools.create_role_and_database(dbapi_pg, name, role)
    load_shop(dbapi_pg, first, rows=10)
    second = pgtools.create_role_and_database(dbapi_pg, name, role)
    assert second.password != first.password
    assert scram_matches(dbapi_pg, role, second.password)
    assert not scram_matches(dbapi_pg, role, first.password)
    assert len(shop_rows(dbapi_pg, second)) == 10  # the existing database and its data are kept
    pgtools.drop_database(dbapi_pg, name, role)


def test_existing_foreign_role_or_database_is_never_taken_over(dbapi_pg, dbapi_names):
    foreign_role, name = dbapi_names("someone"), dbapi_names("hijack")
    with psycopg.connect(dbapi_pg.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'their-own'").format(sql.Identifier(foreign_role)))
    before = admin_scalar(dbapi_pg, "SELECT rolpassword FROM pg_authid WHERE rolname = %s", foreign_role)
    with pytest.raises(PgToolError, match="already exists .* refusing to take it over"):
        pgtools.create_role_and_database(dbapi_pg, name, foreign_role)
    assert admin_scalar(dbapi_pg, "SELECT rolpassword FROM pg_authid WHERE rolname = %s", foreign_role) == before
    assert not pgtools.database_exists(dbapi_pg, name)
    with pytest.raises(PgToolError, match="was not made by dbapi"):
        pgtools.drop_database(dbapi_pg, name, foreign_role)
    assert pgtools.role_exists(dbapi_pg, foreign_role)

    taken, new_role = dbapi_names("taken"), dbapi_names("newcomer")
    with psycopg.connect(dbapi_pg.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(taken), sql.Identifier(foreign_role)))
    with pytest.raises(PgToolError, match=f"database '{taken}' already exists on server 'main'"):
        pgtools.create_role_and_database(dbapi_pg, taken, new_role)
    assert not pgtools.role_exists(dbapi_pg, new_role)
    with pytest.raises(PgToolError, match="refusing to drop it"):
        pgtools.drop_database(dbapi_pg, taken, new_role)
    assert pgtools.database_exists(dbapi_pg, taken)


def test_half_created_role_is_dropped_when_the_database_cannot_be_created(dbapi_pg, dbapi_names):
    """An admin role with CREATEROLE but not CREATEDB: PostgreSQL itself refuses the database after the role
    was made, and the role must be gone again."""
    limited_role = dbapi_names("limited")
    with psycopg.connect(dbapi_pg.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE").format(sql.Identifier(limited_role)))
    limited = dataclasses.replace(dbapi_pg, dsn=make_conninfo(dbapi_pg.dsn, user=limited_role, dbname="postgres"))
    name, role = dbapi_names("halfway"), dbapi_names("halfway_owner")
    with pytest.raises(PgToolError, match="permission denied to create database"):
        pgtools.create_role_and_database(limited, name, role)
    assert not pgtools.role_exists(dbapi_pg, role)
    assert not pgtools.database_exists(dbapi_pg, name)


@pytest.mark.parametrize("bad_name", INJECTION_NAMES)
def test_invalid_and_injection_names_are_refused_before_any_sql(dbapi_pg, dbapi_names, bad_name):
    before = roles_and_databases(dbapi_pg)
    good = dbapi_names("good")
    for action in (
        lambda: pgtools.create_role_and_database(dbapi_pg, bad_name, good),
        lambda: pgtools.create_role_and_database(dbapi_pg, good, bad_name),
        lambda: pgtools.drop_database(dbapi_pg, bad_name, good),
        lambda: pgtools.drop_database(dbapi_pg, good, bad_name),
        lambda: pgarchive.dump(dbapi_pg, bad_name),
        lambda: pgarchive.restore(dbapi_pg, bad_name, [b"PGDMP"]),
    ):
        with pytest.raises(InvalidNameError, match="invalid (database|role) name"):
            action()
    assert roles_and_databases(dbapi_pg) == before
    assert admin_scalar(dbapi_pg, "SELECT 1 FROM pg_roles WHERE rolname = 'postgres'") == 1


def test_drop_removes_database_and_role_and_is_repeatable(dbapi_pg, dbapi_names):
    name, role = dbapi_names("doomed"), dbapi_names("doomed_owner")
    credentials = pgtools.create_role_and_database(dbapi_pg, name, role)
    load_shop(dbapi_pg, credentials, rows=5)
    with app_connect(dbapi_pg, credentials):  # an open connection does not block the drop
        pgtools.drop_database(dbapi_pg, name, role)
    assert not pgtools.database_exists(dbapi_pg, name)
    assert not pgtools.role_exists(dbapi_pg, role)
    pgtools.drop_database(dbapi_pg, name, role)  # nothing left: still fine


# --- pg_dump / pg_restore -------------------------------------------------------------------------------------


def test_dump_and_restore_into_another_database(dbapi_pg, database, second_database):
    load_shop(dbapi_pg, database)
    with pgarchive.dump(dbapi_pg, database.dbname) as stream:
        archive = b"".join(stream)
    assert stream.returncode == 0
    assert archive.startswith(b"PGDMP")

    pgarchive.restore(dbapi_pg, second_database.dbname, [archive[i : i + 5000] for i in range(0, len(archive), 5000)])
    assert shop_rows(dbapi_pg, second_database) == shop_rows(dbapi_pg, database)
    with app_connect(dbapi_pg, second_database) as conn:
        owners = conn.execute(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public' "
            "UNION SELECT DISTINCT viewowner FROM pg_views WHERE schemaname = 'public'"
        ).fetchall()
        assert owners == [(second_database.username,)]
        # The sequence came along: the application can keep inserting.
        conn.execute("INSERT INTO orders (customer) VALUES ('after restore')")
        assert conn.execute("SELECT max(id) FROM orders").fetchone() == (3001,)


def test_restore_with_clean_replaces_what_is_there(dbapi_pg, database):
    load_shop(dbapi_pg, database, rows=50)
    archive = b"".join(pgarchive.dump(dbapi_pg, database.dbname))
    with app_connect(dbapi_pg, database) as conn:
        conn.execute("DELETE FROM orders WHERE id > 10")
        conn.execute("CREATE TABLE scratch (x int)")
    pgarchive.restore(dbapi_pg, database.dbname, [archive])
    assert len(shop_rows(dbapi_pg, database)) == 50


def test_backup_pipeline_dump_encrypt_store_then_read_decrypt_restore(dbapi_pg, database, second_database, tmp_path):
    load_shop(dbapi_pg, database)
    keys = MasterKeys.parse(MasterKeys.generate_spec("k1"))
    storage = LocalStorage(tmp_path / "backups")
    plain = Digest()
    with pgarchive.dump(dbapi_pg, database.dbname) as stream:
        stored = storage.write("db/backup-1", encrypt_stream(plain.tap(stream), keys, backup_id="backup-1"))
    raw = (tmp_path / "backups" / "db" / "backup-1").read_bytes()
    assert len(raw) == stored
    assert b"PGDMP" not in raw and b"customer-1" not in raw

    downloaded = b"".join(decrypt_stream(storage.read("db/backup-1"), keys, backup_id="backup-1"))
    assert len(downloaded) == plain.size
    assert hashlib.sha256(downloaded).hexdigest() == plain.hexdigest

    pgarchive.restore(dbapi_pg, second_database.dbname, decrypt_stream(storage.read("db/backup-1"), keys, backup_id="backup-1"))
    assert shop_rows(dbapi_pg, second_database) == shop_rows(dbapi_pg, database)


def test_restore_of_garbage_is_refused_and_changes_nothing(dbapi_pg, database):
    load_shop(dbapi_pg, database, rows=20)
    for garbage in ([b"-- plain SQL\nDROP TABLE orders;\n"], [b"PGD"], [], [b"", b"P", b"GD", b"XX"]):
        with pytest.raises(PgToolError, match="not a pg_dump custom-format archive"):
            pgarchive.restore(dbapi_pg, database.dbname, garbage)
    assert len(shop_rows(dbapi_pg, database)) == 20


def test_truncated_archive_fails_and_rolls_back(dbapi_pg, database, second_database):
    load_shop(dbapi_pg, database)
    load_shop(dbapi_pg, second_database, rows=7)
    archive = b"".join(pgarchive.dump(dbapi_pg, database.dbname))
    with pytest.raises(PgToolError, match="pg_restore into database .* failed"):
        pgarchive.restore(dbapi_pg, second_database.dbname, [archive[: len(archive) * 2 // 3]])
    assert len(shop_rows(dbapi_pg, second_database)) == 7  # single transaction: the old data is untouched


def test_a_stream_that_fails_integrity_midway_kills_pg_restore_and_rolls_back(dbapi_pg, database, second_database):
    load_shop(dbapi_pg, database)
    load_shop(dbapi_pg, second_database, rows=7)
    archive = b"".join(pgarchive.dump(dbapi_pg, database.dbname))

    def tampered_backup() -> Iterator[bytes]:
        yield archive[: len(archive) // 2]
        raise BackupIntegrityError("chunk 3 failed authentication: the backup was modified or damaged")

    with pytest.raises(BackupIntegrityError):
        pgarchive.restore(dbapi_pg, second_database.dbname, tampered_backup())
    assert len(shop_rows(dbapi_pg, second_database)) == 7


def test_restore_into_a_missing_database(dbapi_pg, database, dbapi_names):
    archive = b"".join(pgarchive.dump(dbapi_pg, database.dbname))
    missing = dbapi_names("missing")
    with pytest.raises(PgToolError, match=f"database '{missing}' does not exist on server 'main'"):
        pgarchive.restore(dbapi_pg, missing, [archive])


def test_dump_of_a_missing_database(dbapi_pg, dbapi_names):
    missing = dbapi_names("missing")
    with pytest.raises(PgToolError, match="does not exist"):
        b"".join(pgarchive.dump(dbapi_pg, missing))


def with_password(server: PgServer, password: str) -> PgServer:
    """The same server with a password in its admin DSN (the test servers trust local connections, so it is
    accepted and ignored by the server, while dbapi must still keep it out of argv and messages)."""
    return dataclasses.replace(server, dsn=make_conninfo(server.dsn, password=password))


def test_pg_dump_runs_as_a_session_role_whose_password_travels_in_the_environment(dbapi_pg, database):
    load_shop(dbapi_pg, database, rows=30_000)  # big enough that pg_dump blocks on the pipe until we read
    secret = "s3cret-admin-password-%%-xyz"
    server = with_password(dbapi_pg, secret)
    with pgarchive.dump(server, database.dbname) as stream:
        pid = stream._process.pid  # noqa: SLF001 - the test inspects the real running pg_dump
        cmdline, environ = _exec_image(pid)
        session = stream.session
        # The role exists while pg_dump runs: a member of the database's owner and of nothing else, no admin rights.
        assert admin_scalar(
            dbapi_pg,
            "SELECT array_agg(pg_get_userbyid(roleid)) FROM pg_auth_members WHERE member = %s::regrole",
            session.name,
        ) == [database.username]
        assert admin_scalar(
            dbapi_pg, "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls "
            "FROM pg_roles WHERE rolname = %s", session.name,
        ) is False
        archive = b"".join(stream)
    assert b"pg_dump" in cmdline and b"--format=custom" in cmdline
    assert f"user={session.name}".encode() in cmdline and f"--role={database.username}".encode() in cmdline
    assert secret.encode() not in cmdline and secret.encode() not in environ  # the superuser's never leaves dbapi
    assert session.password.encode() not in cmdline
    assert f"PGPASSWORD={session.password}".encode() in environ.split(b"\0")
    assert archive.startswith(b"PGDMP")
    assert admin_scalar(dbapi_pg, "SELECT count(*) FROM pg_roles WHERE rolname = %s", session.name) == 0


def _exec_image(pid: int) -> tuple[bytes, bytes]:
    """argv and environment of a freshly started process, once the kernel has finished exec'ing it
    (right after fork /proc shows an empty command line for a moment)."""
    for _ in range(1000):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if cmdline:
            return cmdline, Path(f"/proc/{pid}/environ").read_bytes()
        time.sleep(0.005)
    raise AssertionError(f"process {pid} never showed a command line")


def test_pg_dump_failure_reports_stderr_without_the_password(dbapi_pg, database):
    """A database that refuses connections makes the real pg_dump exit non-zero."""
    secret = "another-s3cret-password"
    with psycopg.connect(dbapi_pg.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(database.dbname)))
    try:
        with pytest.raises(PgToolError) as caught:
            b"".join(pgarchive.dump(with_password(dbapi_pg, secret), database.dbname))
    finally:
        with psycopg.connect(dbapi_pg.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(sql.Identifier(database.dbname)))
    message = str(caught.value)
    assert f"pg_dump of database '{database.dbname}' on server 'main' failed (exit 1)" in message
    assert "not currently accepting connections" in message
    assert secret not in message


def test_leaving_a_dump_early_stops_pg_dump(dbapi_pg, database):
    load_shop(dbapi_pg, database, rows=30_000)
    stream = pgarchive.dump(dbapi_pg, database.dbname)
    with stream:
        first = next(iter(stream))
        pid = stream._process.pid  # noqa: SLF001
    assert first.startswith(b"PGDMP")
    assert stream.returncode is not None and stream.returncode != 0  # killed, not left running
    assert not Path(f"/proc/{pid}").exists()  # and reaped


def test_client_binaries_match_the_server(dbapi_pg, tmp_path):
    path = pgtools.tool_path(dbapi_pg, "pg_dump")
    assert os.access(path, os.X_OK)
    server_major = pgtools.server_version(dbapi_pg) // 10000
    assert pgtools._tool_major(path) >= server_major  # noqa: SLF001
    empty = dataclasses.replace(dbapi_pg, bin_dir=tmp_path)
    with pytest.raises(PgToolError, match=f"pg_dump not found in configured bin_dir {tmp_path}"):
        pgtools.tool_path(empty, "pg_dump")


def test_unreachable_server_is_a_clear_error_without_the_password(dbapi_pg):
    secret = "unreachable-s3cret"
    port = _free_port()
    server = PgServer.from_config(
        "faraway", {"dsn": f"postgresql://postgres:{secret}@127.0.0.1:{port}/postgres", "host": "db.example"}
    )
    assert (server.host, server.port) == ("db.example", port)
    assert secret not in repr(server)
    with pytest.raises(PgToolError, match="cannot connect to PostgreSQL server 'faraway'") as caught:
        pgtools.create_role_and_database(server, "shop", "shop_owner")
    assert secret not in str(caught.value)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_server_from_config_validates(dbapi_pg):
    with pytest.raises(PgToolError, match="'dsn'"):
        PgServer.from_config("bad", {"host": "x"})
    with pytest.raises(PgToolError, match="'port' must be an integer"):
        PgServer.from_config("bad", {"dsn": "postgresql://u@h/db", "port": "five"})
    server = PgServer.from_config("ok", {"dsn": "postgresql://u@h:6543/db", "bin_dir": "/opt/pg/bin"})
    assert (server.host, server.port, server.bin_dir) == ("h", 6543, Path("/opt/pg/bin"))
    assert conninfo_to_dict(dbapi_pg.dsn)  # the fixture's DSN is well formed
