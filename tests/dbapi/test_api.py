"""The HTTP API as the panel and developers use it: authentication, validation, idempotency, refusals that change
nothing, downloads restored with the real pg_restore, uploads of dumps made by the real pg_dump."""
from __future__ import annotations

import hashlib
import logging
import subprocess
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import func, select

from dbapi import pgtools, runtime
from dbapi.models import Backup, Database, Operation, Token, db

from tests.dbapi.test_operations import app_dsn, create_database, load_shop, shop_rows

SQL_INJECTIONS = [
    'x"; DROP DATABASE postgres; --',
    "x'; DROP ROLE postgres; --",
    "shop; DROP TABLE users",
    "Shop",
    "1shop",
    "shop-production",
    "shop production",
    "",
    "a" * 64,
    "postgres",
    "template1",
    "pg_shop",
    "shop\x00",
    "ünïcode",
]


def counts(dbapi_app) -> tuple[int, int, int, int]:
    """How many databases, backups, operations and tokens dbapi has recorded."""
    with dbapi_app.app_context():
        return tuple(  # type: ignore[return-value]
            db.session.scalar(select(func.count()).select_from(model)) for model in (Database, Backup, Operation, Token)
        )


def server_databases(dbapi_admin_dsn) -> set[str]:
    with psycopg.connect(dbapi_admin_dsn("postgres")) as connection:
        return {name for (name,) in connection.execute("SELECT datname FROM pg_database").fetchall()}


def server_roles(dbapi_admin_dsn) -> set[str]:
    with psycopg.connect(dbapi_admin_dsn("postgres")) as connection:
        return {name for (name,) in connection.execute("SELECT rolname FROM pg_roles").fetchall()}


# --- service authentication -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/servers"), ("POST", "/databases"), ("GET", "/operations/x"), ("POST", "/tokens"),
     ("DELETE", "/backups/x"), ("GET", "/databases/x")],
)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-key", "Basic dXNlcjpwYXNz", "Bearer "])
def test_management_endpoints_need_the_service_key(dbapi_client, method, path, authorization):
    # None drops the service key the client session normally sends.
    response = dbapi_client.http.request(method, dbapi_client.base_url + path,
                                         headers={"Authorization": authorization}, json={}, timeout=10)
    assert response.status_code == 401
    assert response.json()["message"]


def test_servers_lists_names_and_app_facing_addresses_only(dbapi_client, dbapi_pg):
    response = dbapi_client.call("GET", "/servers")
    assert response.status_code == 200
    assert response.json() == {"servers": [
        {"name": "limited", "host": "db.limited.test", "port": 5432},
        {"name": "main", "host": "db.main.test", "port": 5432},
    ]}
    assert "postgres" not in response.text  # no admin user, no DSN


# --- creating databases: validation, idempotency -----------------------------------------------------------------


@pytest.mark.parametrize("name", SQL_INJECTIONS)
def test_invalid_or_hostile_names_are_422_and_create_nothing(dbapi_app, dbapi_client, callback_receiver,
                                                             dbapi_admin_dsn, name):
    before = counts(dbapi_app), server_databases(dbapi_admin_dsn), server_roles(dbapi_admin_dsn)
    for body in ({"name": name}, {"name": "fine_name", "owner_role": name}):
        response = dbapi_client.call(
            "POST", "/databases", json={"server": "main", "callback_url": callback_receiver.url, **body}
        )
        assert response.status_code == 422, response.text
        field = "owner_role" if "owner_role" in body else "name"
        assert field in response.json()["detail"]["json"]
    assert (counts(dbapi_app), server_databases(dbapi_admin_dsn), server_roles(dbapi_admin_dsn)) == before
    assert callback_receiver.requests == []


def test_unknown_server_is_422_naming_the_known_ones(dbapi_app, dbapi_client, callback_receiver, dbapi_names):
    before = counts(dbapi_app)
    response = dbapi_client.call(
        "POST", "/databases", json={"name": dbapi_names("lost"), "server": "nowhere", "callback_url": callback_receiver.url}
    )
    assert response.status_code == 422
    assert response.json()["detail"]["json"]["server"] == ["unknown server 'nowhere' (known: limited, main)"]
    assert counts(dbapi_app) == before


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("{not json", 400),
        ('["a", "list"]', 422),
        ('{"name": "ok", "server": "main"}', 422),  # no callback_url
        ('{"name": "ok", "server": "main", "callback_url": "ftp://x/y"}', 422),
        ('{"name": "ok", "server": "main", "callback_url": "not a url"}', 422),
        ('{"name": "ok", "server": "main", "callback_url": "http://127.0.0.1/cb", "extra": 1}', 422),
        ('{"name": 5, "server": "main", "callback_url": "http://127.0.0.1/cb"}', 422),
    ],
)
def test_malformed_requests_are_refused_with_clear_errors(dbapi_app, dbapi_client, body, status):
    before = counts(dbapi_app)
    response = dbapi_client.call("POST", "/databases", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status
    assert response.json()["message"]
    assert counts(dbapi_app) == before


def test_same_request_id_returns_the_same_operation(dbapi_app, dbapi_client, callback_receiver, dbapi_names):
    body = {"name": dbapi_names("once"), "server": "main", "callback_url": callback_receiver.url,
            "request_id": f"req-{dbapi_names('r')}"}
    first = dbapi_client.call("POST", "/databases", json=body)
    second = dbapi_client.call("POST", "/databases", json=body)
    assert first.status_code == second.status_code == 202
    assert first.json()["operation"]["id"] == second.json()["operation"]["id"]
    operation = dbapi_client.wait(first.json()["operation"]["id"])
    assert operation["state"] == "succeeded"
    with dbapi_app.app_context():
        assert db.session.scalar(select(func.count()).where(Database.name == body["name"])) == 1
    assert len(callback_receiver.delivered(operation["id"])) == 1
    # After it finished, a retry still gets the same (now finished) operation, and nothing runs again.
    third = dbapi_client.call("POST", "/databases", json=body)
    assert third.json()["operation"]["id"] == operation["id"] and third.json()["operation"]["state"] == "succeeded"

    clash = dbapi_client.call("POST", "/databases", json={**body, "name": dbapi_names("other")})
    assert clash.status_code == 409
    assert "request_id" in clash.json()["message"]


def test_a_live_name_is_409(dbapi_client, callback_receiver, dbapi_names):
    payload = create_database(dbapi_client, callback_receiver, dbapi_names("dup"))
    again = dbapi_client.call(
        "POST", "/databases",
        json={"name": payload["database"]["name"], "server": "main", "callback_url": callback_receiver.url},
    )
    assert again.status_code == 409
    assert "already exists" in again.json()["message"]


@pytest.mark.parametrize("path", ["/databases/{id}", "/backups/{id}", "/operations/{id}"])
def test_unknown_ids_are_404(dbapi_client, path):
    response = dbapi_client.call("GET", path.format(id="00000000-0000-4000-8000-000000000000"))
    assert response.status_code == 404
    assert "no " in response.json()["message"]


# --- backups: request-time refusals -----------------------------------------------------------------------------


def test_restore_of_a_backup_still_in_progress_is_409(dbapi_app, dbapi_client, dbapi_worker, callback_receiver,
                                                      dbapi_names):
    source = create_database(dbapi_client, callback_receiver, dbapi_names("busy"))
    target = create_database(dbapi_client, callback_receiver, dbapi_names("busy_to"))
    dbapi_worker.pause()  # the backup stays pending until the worker comes back
    try:
        started = dbapi_client.call(
            "POST", f"/databases/{source['database']['id']}/backups", json={"callback_url": callback_receiver.url}
        ).json()["operation"]
        before = counts(dbapi_app)
        refused = dbapi_client.call(
            "POST", f"/databases/{target['database']['id']}/restore",
            json={"backup_id": started["backup_id"], "callback_url": callback_receiver.url},
        )
        assert refused.status_code == 409
        assert refused.json()["message"] == (
            f"backup {started['backup_id']} is pending; only a succeeded backup can be restored"
        )
        deleting = dbapi_client.call("DELETE", f"/backups/{started['backup_id']}")
        assert deleting.status_code == 409
        token = dbapi_client.call("POST", "/tokens", json={"action": "download", "backup_id": started["backup_id"]})
        assert token.status_code == 409
        assert counts(dbapi_app) == before
    finally:
        dbapi_worker.resume()
    assert dbapi_client.wait(started["id"])["state"] == "succeeded"


def test_delete_backup_removes_the_object_now(dbapi_app, dbapi_client, callback_receiver, dbapi_names):
    source = create_database(dbapi_client, callback_receiver, dbapi_names("prune"))
    operation = dbapi_client.run(
        "POST", f"/databases/{source['database']['id']}/backups", json={"callback_url": callback_receiver.url}
    )
    with dbapi_app.app_context():
        key = db.session.get(Backup, operation["backup_id"]).storage_key
        assert runtime().storage.exists(key)
    deleted = dbapi_client.call("DELETE", f"/backups/{operation['backup_id']}")
    assert deleted.status_code == 200 and deleted.json()["backup"]["state"] == "deleted"
    with dbapi_app.app_context():
        assert not runtime().storage.exists(key)
    assert dbapi_client.call("DELETE", f"/backups/{operation['backup_id']}").status_code == 200
    restore = dbapi_client.call(
        "POST", f"/databases/{source['database']['id']}/restore",
        json={"backup_id": operation["backup_id"], "callback_url": callback_receiver.url},
    )
    assert restore.status_code == 409


# --- tokens, download and upload over HTTP --------------------------------------------------------------------


@pytest.fixture
def shop_backup(dbapi_client, callback_receiver, dbapi_names, dbapi_admin_dsn) -> dict:
    """A ready database with data and a succeeded backup of it."""
    source = create_database(dbapi_client, callback_receiver, dbapi_names("dl"))
    load_shop(app_dsn(dbapi_admin_dsn, source), rows=300)
    operation = dbapi_client.run(
        "POST", f"/databases/{source['database']['id']}/backups", json={"callback_url": callback_receiver.url}
    )
    backup = dbapi_client.call("GET", f"/backups/{operation['backup_id']}").json()
    return {"source": source, "backup": backup}


def issue(dbapi_client, **body) -> dict:
    response = dbapi_client.call("POST", "/tokens", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def restore_with_pg_restore(dbapi_pg, dbapi_admin_dsn, archive: Path, dbname: str) -> None:
    """Restore a downloaded archive the way a developer would: the real pg_restore into a scratch database."""
    with psycopg.connect(dbapi_admin_dsn("postgres"), autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    subprocess.run(
        [pgtools.tool_path(dbapi_pg, "pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
         f"--dbname={dbapi_admin_dsn(dbname)}", str(archive)],
        check=True, capture_output=True,
    )


def test_download_with_a_token_restores_with_the_real_pg_restore(
    dbapi_client, shop_backup, dbapi_pg, dbapi_admin_dsn, dbapi_names, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    backup = shop_backup["backup"]
    grant = issue(dbapi_client, action="download", backup_id=backup["id"], ttl_seconds=300)
    assert grant["url"] == f"{dbapi_client.base_url}/backups/{backup['id']}/download" and grant["method"] == "GET"

    archive = tmp_path / "shop.dump"
    with dbapi_client.http.get(grant["url"], headers={"Authorization": f"Bearer {grant['token']}"},
                               stream=True, timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["Content-Disposition"].startswith('attachment; filename="')
        assert int(response.headers["Content-Length"]) == backup["size_bytes"]
        with archive.open("wb") as file:
            for chunk in response.iter_content(64 * 1024):
                file.write(chunk)
    content = archive.read_bytes()
    assert content.startswith(b"PGDMP")
    assert hashlib.sha256(content).hexdigest() == backup["sha256"]

    scratch = dbapi_names("scratch")
    restore_with_pg_restore(dbapi_pg, dbapi_admin_dsn, archive, scratch)
    assert shop_rows(dbapi_admin_dsn(scratch)) == shop_rows(app_dsn(dbapi_admin_dsn, shop_backup["source"]))

    # A download token may be used again until it expires; each use is logged by id, never the token itself.
    again = dbapi_client.http.get(grant["url"], headers={"Authorization": f"Bearer {grant['token']}"}, timeout=60)
    assert again.status_code == 200 and again.content == content
    assert f"token used id={grant['token_id']}" in caplog.text
    assert f"token issued id={grant['token_id']}" in caplog.text
    assert grant["token"] not in caplog.text


def test_upload_of_a_real_pg_dump_registers_a_backup_that_restores(
    dbapi_app, dbapi_client, callback_receiver, dbapi_pg, dbapi_admin_dsn, dbapi_names, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    # A developer's own database, dumped with the real pg_dump.
    local = dbapi_names("laptop")
    with psycopg.connect(dbapi_admin_dsn("postgres"), autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(local)))
    load_shop(dbapi_admin_dsn(local), rows=500)
    archive = tmp_path / "laptop.dump"
    subprocess.run([pgtools.tool_path(dbapi_pg, "pg_dump"), "-Fc", f"--dbname={dbapi_admin_dsn(local)}",
                    f"--file={archive}"], check=True, capture_output=True)

    target = create_database(dbapi_client, callback_receiver, dbapi_names("uploaded_to"))
    grant = issue(dbapi_client, action="upload", database_id=target["database"]["id"],
                  callback_url=callback_receiver.url)
    assert grant["method"] == "PUT" and grant["url"].endswith(f"/databases/{target['database']['id']}/uploads")
    with archive.open("rb") as body:  # streamed from the file, not read into memory
        response = dbapi_client.http.put(grant["url"], data=body,
                                         headers={"Authorization": f"Bearer {grant['token']}"}, timeout=60)
    assert response.status_code == 201, response.text
    uploaded = response.json()
    assert uploaded["backup"]["kind"] == "uploaded" and uploaded["backup"]["state"] == "succeeded"
    assert uploaded["backup"]["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert uploaded["backup"]["size_bytes"] == archive.stat().st_size
    assert uploaded["operation"]["kind"] == "upload" and uploaded["operation"]["state"] == "succeeded"
    operation = dbapi_client.wait(uploaded["operation"]["id"])
    [callback] = callback_receiver.delivered(operation["id"])
    assert callback["backup"]["id"] == uploaded["backup"]["id"]

    dbapi_client.run("POST", f"/databases/{target['database']['id']}/restore",
                     json={"backup_id": uploaded["backup"]["id"], "callback_url": callback_receiver.url})
    assert shop_rows(app_dsn(dbapi_admin_dsn, target)) == shop_rows(dbapi_admin_dsn(local))

    # The upload token was spent: presenting it again is refused and changes nothing.
    before = counts(dbapi_app)
    with archive.open("rb") as body:
        reused = dbapi_client.http.put(grant["url"], data=body,
                                       headers={"Authorization": f"Bearer {grant['token']}"}, timeout=60)
    assert reused.status_code == 403
    assert reused.json()["message"] == "the upload token has already been used"
    assert counts(dbapi_app) == before
    assert grant["token"] not in caplog.text


def test_upload_that_is_not_a_dump_fails_clearly_and_leaves_nothing(
    dbapi_app, dbapi_client, callback_receiver, dbapi_names
):
    target = create_database(dbapi_client, callback_receiver, dbapi_names("junk_to"))
    grant = issue(dbapi_client, action="upload", database_id=target["database"]["id"],
                  callback_url=callback_receiver.url)
    response = dbapi_client.http.put(grant["url"], data=b"SELECT 'this is plain SQL, not pg_dump -Fc';\n" * 1000,
                                     headers={"Authorization": f"Bearer {grant['token']}"}, timeout=60)
    assert response.status_code == 422
    message = response.json()["message"]
    assert "not a pg_dump custom-format archive" in message
    operation = dbapi_client.wait(response.json()["detail"]["operation_id"])
    assert operation["state"] == "failed" and operation["error"] == message
    [callback] = callback_receiver.delivered(operation["id"])
    assert callback["state"] == "failed" and callback["error"] == message and callback["backup"]["state"] == "failed"
    with dbapi_app.app_context():
        backup = db.session.get(Backup, operation["backup_id"])
        assert backup.state == "failed" and backup.error == message
        assert not runtime().storage.exists(backup.storage_key)


class TestRefusedTokens:
    """Every refusal is 401/403 and changes nothing: no use recorded, no backup, no operation, no bytes."""

    @pytest.fixture
    def setting(self, dbapi_app, dbapi_client, shop_backup, callback_receiver, dbapi_names) -> dict:
        other = create_database(dbapi_client, callback_receiver, dbapi_names("other"))
        return {
            "backup": shop_backup["backup"],
            "database": shop_backup["source"]["database"],
            "other_database": other["database"],
            "download": issue(dbapi_client, action="download", backup_id=shop_backup["backup"]["id"]),
            "upload": issue(dbapi_client, action="upload", database_id=other["database"]["id"]),
        }

    def attempt(self, dbapi_client, method: str, path: str, token: str | None):
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        session_headers = {"Authorization": None}  # drop the service key the client normally sends
        return dbapi_client.http.request(method, dbapi_client.base_url + path, data=b"PGDMP" + b"\0" * 100,
                                         headers={**session_headers, **headers}, timeout=30)

    def uses(self, dbapi_app) -> list[tuple[str, int]]:
        with dbapi_app.app_context():
            return [(token.id, token.use_count) for token in db.session.scalars(select(Token).order_by(Token.id))]

    @pytest.mark.parametrize(
        ("case", "status", "message"),
        [
            ("no token", 401, None),
            ("service key instead", 401, "the token is invalid"),
            ("tampered download", 401, "the token is invalid"),
            ("download token for upload", 403, "the token allows download, not upload"),
            ("upload token for download", 403, "the token allows upload, not download"),
            ("download token for another backup", 403, "the token is for a different resource"),
            ("upload token for another database", 403, "the token is for a different resource"),
        ],
    )
    def test_refusals(self, dbapi_app, dbapi_client, setting, caplog, case, status, message):
        caplog.set_level(logging.DEBUG)
        download, upload = setting["download"]["token"], setting["upload"]["token"]
        backup_id, database_id = setting["backup"]["id"], setting["database"]["id"]
        flipped = download[:-2] + ("A" if download[-2] != "A" else "B") + download[-1]
        method, path, token = {
            "no token": ("GET", f"/backups/{backup_id}/download", None),
            "service key instead": ("GET", f"/backups/{backup_id}/download", dbapi_client.http.headers[
                "Authorization"].removeprefix("Bearer ")),
            "tampered download": ("GET", f"/backups/{backup_id}/download", flipped),
            "download token for upload": ("PUT", f"/databases/{setting['other_database']['id']}/uploads", download),
            "upload token for download": ("GET", f"/backups/{setting['other_database']['id']}/download", upload),
            "download token for another backup": ("GET", "/backups/00000000-0000-4000-8000-000000000000/download",
                                                  download),
            "upload token for another database": ("PUT", f"/databases/{database_id}/uploads", upload),
        }[case]
        before = counts(dbapi_app), self.uses(dbapi_app)
        response = self.attempt(dbapi_client, method, path, token)
        assert response.status_code == status
        if message:
            assert response.json()["message"] == message
        assert "PGDMP" not in response.text
        assert (counts(dbapi_app), self.uses(dbapi_app)) == before
        assert download not in caplog.text and upload not in caplog.text

    def test_expired_token_is_401(self, dbapi_app, dbapi_client, shop_backup):
        import time

        grant = issue(dbapi_client, action="download", backup_id=shop_backup["backup"]["id"], ttl_seconds=1)
        time.sleep(1.2)  # let it expire (the token's own clock decides; nothing here measures time)
        before = counts(dbapi_app), self.uses(dbapi_app)
        response = self.attempt(dbapi_client, "GET", f"/backups/{shop_backup['backup']['id']}/download",
                                grant["token"])
        assert response.status_code == 401
        assert response.json()["message"] == "the token has expired"
        assert (counts(dbapi_app), self.uses(dbapi_app)) == before


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"action": "download"}, 422),
        ({"action": "download", "database_id": "00000000-0000-4000-8000-000000000000"}, 422),
        ({"action": "upload", "backup_id": "00000000-0000-4000-8000-000000000000"}, 422),
        ({"action": "delete", "backup_id": "00000000-0000-4000-8000-000000000000"}, 422),
        ({"action": "download", "backup_id": "00000000-0000-4000-8000-000000000000", "ttl_seconds": 3601}, 422),
        ({"action": "download", "backup_id": "00000000-0000-4000-8000-000000000000", "ttl_seconds": 0}, 422),
        ({"action": "download", "backup_id": "00000000-0000-4000-8000-000000000000"}, 404),
        ({"action": "upload", "database_id": "00000000-0000-4000-8000-000000000000"}, 404),
    ],
)
def test_token_requests_are_validated(dbapi_app, dbapi_client, body, status):
    before = counts(dbapi_app)
    response = dbapi_client.call("POST", "/tokens", json=body)
    assert response.status_code == status, response.text
    assert counts(dbapi_app) == before


# --- configuration ------------------------------------------------------------------------------------------------


def test_production_refuses_every_development_default(tmp_path):
    from dbapi.config import ConfigError, Settings

    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"DBAPI_ENV": "production", "DBAPI_DATA_DIR": str(tmp_path)})
    for setting in ("DBAPI_SERVICE_KEY", "DBAPI_CALLBACK_SECRET", "DBAPI_TOKEN_SECRET", "DBAPI_MASTER_KEYS",
                    "DBAPI_DATABASE_URL", "DBAPI_REDIS_URL", "DBAPI_SERVERS", "DBAPI_CALLBACK_HOSTS"):
        assert setting in str(refused.value)


def test_production_starts_with_real_settings(tmp_path):
    from dbapi.config import Settings
    from dbapi.crypto import MasterKeys

    settings = Settings.from_env({
        "DBAPI_ENV": "production", "DBAPI_DATA_DIR": str(tmp_path),
        "DBAPI_SERVICE_KEY": "s" * 40, "DBAPI_CALLBACK_SECRET": "c" * 40, "DBAPI_TOKEN_SECRET": "t" * 40,
        "DBAPI_MASTER_KEYS": MasterKeys.generate_spec("k2") + "," + MasterKeys.generate_spec("k1"),
        "DBAPI_DATABASE_URL": "postgresql://dbapi@db.internal/dbapi", "DBAPI_REDIS_URL": "redis://redis.internal/0",
        "DBAPI_SERVERS": '{"main": {"dsn": "postgresql://postgres:secret@10.0.0.5/postgres", "host": "db.example"}}',
        "DBAPI_CALLBACK_HOSTS": "panel.example.com",
    })
    assert settings.master_keys.current_id == "k2" and settings.master_keys.ids == ("k2", "k1")
    assert settings.database_url == "postgresql+psycopg://dbapi@db.internal/dbapi"
    assert (settings.servers["main"].host, settings.servers["main"].port) == ("db.example", 5432)
    assert "secret" not in repr(settings.servers)  # the admin DSN never shows up in logs or tracebacks


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"DBAPI_SERVERS": "{not json"}, "DBAPI_SERVERS is not valid JSON"),
        ({"DBAPI_SERVERS": "[]"}, "DBAPI_SERVERS must be a JSON object"),
        ({"DBAPI_SERVERS": '{"Main!": {"dsn": "postgresql://x/y"}}'}, "server name 'Main!'"),
        ({"DBAPI_SERVERS": '{"main": {}}'}, "'dsn'"),
        ({"DBAPI_MASTER_KEYS": "k1:not-base64!"}, "DBAPI_MASTER_KEYS"),
        ({"DBAPI_MASTER_KEYS": "k1:c2hvcnQ="}, "32 bytes"),
        ({"DBAPI_CALLBACK_MAX_SECONDS": "soon"}, "DBAPI_CALLBACK_MAX_SECONDS must be a whole number"),
        ({"DBAPI_CALLBACK_RETRY_SECONDS": "0"}, "DBAPI_CALLBACK_RETRY_SECONDS must be positive"),
    ],
)
def test_bad_configuration_is_refused_with_the_setting_named(tmp_path, environ, message):
    from dbapi.config import ConfigError, Settings

    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        Settings.from_env({"DBAPI_DATA_DIR": str(tmp_path), **environ})
