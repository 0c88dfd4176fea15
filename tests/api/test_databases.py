"""A developer's whole database life through /api/v1 against the live dbapi (real PostgreSQL, pg_dump/pg_restore,
its RQ worker and its signed callbacks to the live panel): create, capture, download with the token, restore, clone
with restore to another app, upload a dump back (registered once, a replayed callback adds nothing), and an upload
that is not a dump refused by dbapi with the panel unchanged. Every mutation is audited as the Deis user."""
from __future__ import annotations

import hashlib
import json
import time

import psycopg
import requests
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, Backup, Operation
from tests.api.test_sign_in import error_of
from tests.dbapi.conftest import DBAPI_CALLBACK_SECRET


def follow(api, operation: dict, user: str = "alice", timeout: float = 120) -> dict:
    """Poll GET /operations/<id> until it ends, as the CLI's --wait does."""
    deadline = time.monotonic() + timeout
    while True:
        current = api.get(f"/operations/{operation['id']}", user=user).get_json()["operation"]
        if current["state"] in ("succeeded", "failed"):
            return current
        assert time.monotonic() < deadline, current
        time.sleep(0.2)


def create(api, app: str) -> dict:
    accepted = api.post(f"/apps/{app}/database")
    assert accepted.status_code == 202, accepted.get_json()
    finished = follow(api, accepted.get_json()["operation"])
    assert finished["state"] == "succeeded", finished
    database = api.get(f"/apps/{app}/database").get_json()["database"]
    assert database["state"] == "ready"
    return database


def sql(dsn_for, database: dict, statement: str) -> list[tuple]:
    with psycopg.connect(dsn_for(database["name"]), autocommit=True) as connection:
        cursor = connection.execute(statement)
        return cursor.fetchall() if cursor.description else []


def test_create_capture_download_restore_clone_and_upload(api_dbapi, dbapi_admin_dsn, sandbox):
    api = api_dbapi
    billing, blog = create(api, "billing"), create(api, "blog")
    assert "password" not in json.dumps(billing) and "postgres://" not in json.dumps(billing)
    assert error_of(api.post("/apps/billing/database"), 409)["code"] == "database_exists"
    sql(dbapi_admin_dsn, billing, f"CREATE TABLE invoices (id int primary key, total int);"
                                  f" ALTER TABLE invoices OWNER TO {billing['username']};"
                                  " INSERT INTO invoices VALUES (1, 100), (2, 250)")

    captured = api.post("/apps/billing/backups")
    assert captured.status_code == 202
    assert captured.get_json()["backup"]["kind"] == "manual"
    assert follow(api, captured.get_json()["operation"])["state"] == "succeeded"
    backup_id = captured.get_json()["backup"]["id"]
    backup = api.get(f"/apps/billing/backups/{backup_id}").get_json()["backup"]
    assert backup["state"] == "succeeded" and backup["size_bytes"] > 0 and backup["finished_at"].endswith("Z")
    assert [row["id"] for row in api.get("/apps/billing/backups").get_json()["backups"]] == [backup_id]
    summary = api.get("/apps/billing").get_json()["app"]["backups"]
    assert summary["count"] == 1 and summary["latest_state"] == "succeeded"

    # Download straight from dbapi with the negotiated token: the plain pg_dump archive, size and digest as told.
    grant = api.post(f"/apps/billing/backups/{backup_id}/download-token")
    assert grant.status_code == 201
    grant = grant.get_json()
    assert grant["method"] == "GET" and grant["expires_at"].endswith("Z")
    archive = requests.get(grant["url"], headers={"Authorization": f"Bearer {grant['token']}"}, timeout=60)
    assert archive.status_code == 200 and archive.content.startswith(b"PGDMP")
    assert len(archive.content) == grant["size_bytes"]
    assert hashlib.sha256(archive.content).hexdigest() == grant["sha256"] == archive.headers["X-Backup-SHA256"]

    sql(dbapi_admin_dsn, billing, "DELETE FROM invoices WHERE id = 2")
    restored = api.post(f"/apps/billing/backups/{backup_id}/restore")
    assert restored.status_code == 202
    assert follow(api, restored.get_json()["operation"])["state"] == "succeeded"
    assert sql(dbapi_admin_dsn, billing, "SELECT id, total FROM invoices ORDER BY id") == [(1, 100), (2, 250)]

    # Clone to another app alice may see, restored there; to one she may not see: 404, nothing registered.
    hidden = api.post(f"/apps/billing/backups/{backup_id}/clone", json={"to": "reports"})
    assert error_of(hidden, 404)["detail"] == {"app": "reports"}
    cloned = api.post(f"/apps/billing/backups/{backup_id}/clone", json={"to": "blog"})
    assert cloned.status_code == 202, cloned.get_json()
    body = cloned.get_json()
    assert body["backup"]["kind"] == "cloned" and body["backup"]["cloned_from"] == backup_id
    assert follow(api, body["operation"])["state"] == "succeeded"
    assert body["operation"]["app"] == "blog"
    assert sql(dbapi_admin_dsn, blog, "SELECT id, total FROM invoices ORDER BY id") == [(1, 100), (2, 250)]
    assert [row["kind"] for row in api.get("/apps/blog/backups").get_json()["backups"]] == ["cloned"]

    # Upload the downloaded archive back as a new backup of blog; the callback registers it once.
    issued = api.post("/apps/blog/upload-token", json={"ttl_seconds": 300})
    assert issued.status_code == 201
    issued = issued.get_json()
    assert issued["method"] == "PUT" and issued["operation"]["kind"] == "backup.upload"
    assert issued["operation"]["state"] == "pending"
    stored = requests.put(issued["url"], data=archive.content, timeout=60,
                          headers={"Authorization": f"Bearer {issued['token']}"})
    assert stored.status_code == 201, stored.text
    finished = follow(api, issued["operation"])
    assert finished["state"] == "succeeded", finished
    uploaded = [row for row in api.get("/apps/blog/backups").get_json()["backups"] if row["kind"] == "uploaded"]
    assert len(uploaded) == 1 and uploaded[0]["state"] == "succeeded"
    assert finished["result"]["backup"] == uploaded[0]["id"]
    assert uploaded[0]["size_bytes"] == len(archive.content)

    # A replayed callback (with or without the upload query) registers nothing a second time.
    operation = db.session.get(Operation, issued["operation"]["id"])
    remote_backup = stored.json()["backup"]
    replay = json.dumps({"operation_id": operation.dbapi_operation_id, "kind": "upload", "state": "succeeded",
                         "error": None, "backup": remote_backup, "database": {"id": remote_backup["database_id"]}})
    for query in (f"?upload={operation.uuid}", ""):
        answer = api.client.post(f"/dbapi/callbacks{query}", data=replay, headers={
            "Content-Type": "application/json", "X-Signature": _sign(replay.encode())})
        assert answer.status_code == 200 and answer.get_json()["message"] == "already applied"
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Backup.id)).where(Backup.kind == "uploaded")) == 1

    # Every mutation is audited as the Deis user, marked as coming through the API.
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.actor == "deis:alice")).all()
    assert {event.action for event in events} == {"database.create", "backup.capture", "backup.download_token",
                                                  "backup.restore", "backup.clone", "backup.upload_token"}
    assert all(event.after["via"] == "api/v1" for event in events)
    assert grant["token"] not in json.dumps([event.after for event in events])
    assert issued["token"] not in json.dumps([event.after for event in events])


def _sign(body: bytes) -> str:
    from dbapi.callbacks import sign  # the sender's own signing, as dbapi's worker does it

    return sign(DBAPI_CALLBACK_SECRET, body, int(time.time()))


def test_an_upload_that_is_not_a_dump_is_refused_and_registers_nothing(api_dbapi):
    api = api_dbapi
    create(api, "blog")
    issued = api.post("/apps/blog/upload-token").get_json()
    backups_before = api.get("/apps/blog/backups").get_json()
    events_before = db.session.scalar(select(func.count(AuditEvent.id)))
    refused = requests.put(issued["url"], data=b"SELECT 1; -- not a pg_dump archive\n" * 100, timeout=60,
                           headers={"Authorization": f"Bearer {issued['token']}"})
    assert refused.status_code == 422
    assert "not a pg_dump custom-format archive" in refused.json()["message"]
    finished = follow(api, issued["operation"])
    assert finished["state"] == "failed" and "pg_dump" in finished["error"]
    assert api.get("/apps/blog/backups").get_json() == backups_before
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Backup.id))) == 0
    assert db.session.scalar(select(func.count(AuditEvent.id))) == events_before
    # The token was spent by that attempt: a second try is refused by dbapi.
    again = requests.put(issued["url"], data=b"PGDMP", timeout=60,
                         headers={"Authorization": f"Bearer {issued['token']}"})
    assert again.status_code in (401, 403)


def test_restore_of_an_unknown_backup_and_busy_database_change_nothing(api_dbapi):
    api = api_dbapi
    create(api, "blog")
    events = db.session.scalar(select(func.count(AuditEvent.id)))
    assert error_of(api.post("/apps/blog/backups/424242/restore"), 404)["detail"] == {"app": "blog", "backup": 424242}
    assert error_of(api.post("/apps/blog/backups/424242/clone", json={"to": "billing"}), 404)["code"] == "not_found"
    db.session.expire_all()
    assert db.session.scalar(select(func.count(AuditEvent.id))) == events
