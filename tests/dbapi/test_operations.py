"""The Databases API end to end: real PostgreSQL, a real RQ worker, real storage, over real HTTP.

Create a database (its callback carries working credentials), load data, back it up, restore it into another
database and compare; tampering and key rotation; and bad input that must end in a clear failed operation with
nothing half-made left behind.
"""
from __future__ import annotations

import logging
import os

import psycopg
from psycopg import sql

from dbapi import runtime
from dbapi.models import Backup, db

ROWS = 2000


def create_database(client, receiver, name: str, **extra) -> dict:
    """Create `name` through the API; return the create_database callback payload (with the password)."""
    body = {"name": name, "server": "main", "callback_url": receiver.url, **extra}
    operation = client.run("POST", "/databases", json=body)
    [payload] = receiver.delivered(operation["id"])
    return payload


def app_dsn(admin_dsn, payload: dict) -> str:
    """The DATABASE_URL an app would build from a create_database callback, pointed at the test server."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    admin = conninfo_to_dict(admin_dsn(payload["database"]["name"]))
    database = payload["database"]
    # host/port in the callback are the names handed to apps (db.main.test); the test reaches the same server
    # through the admin DSN's address.
    return make_conninfo(**{**admin, "user": database["username"], "password": database["password"]})


def load_shop(dsn: str, rows: int = ROWS) -> None:
    with psycopg.connect(dsn) as connection:
        connection.execute("CREATE TABLE orders (id int PRIMARY KEY, customer text, total numeric(10,2), note bytea)")
        connection.execute(
            "INSERT INTO orders SELECT i, 'customer-' || i, i * 1.25, sha256(i::text::bytea) "
            "FROM generate_series(1, %s) AS i",
            (rows,),
        )
        connection.execute("CREATE INDEX orders_customer ON orders (customer)")


def shop_rows(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as connection:
        return connection.execute("SELECT id, customer, total, note FROM orders ORDER BY id").fetchall()


def stored_object(dbapi_app, backup_id: str) -> bytes:
    with dbapi_app.app_context():
        backup = db.session.get(Backup, backup_id)
        return b"".join(runtime().storage.read(backup.storage_key))


def test_create_load_backup_restore_elsewhere_and_compare(dbapi_client, callback_receiver, dbapi_names,
                                                          dbapi_admin_dsn, caplog):
    caplog.set_level(logging.DEBUG)
    source = create_database(dbapi_client, callback_receiver, dbapi_names("shop"))
    target = create_database(dbapi_client, callback_receiver, dbapi_names("clone"))
    assert source["state"] == "succeeded" and source["database"]["state"] == "ready"
    assert source["database"]["host"] == "db.main.test" and source["database"]["port"] == 5432
    assert len(source["database"]["password"]) >= 32
    load_shop(app_dsn(dbapi_admin_dsn, source))  # the generated credentials really log in

    backup_operation = dbapi_client.run(
        "POST", f"/databases/{source['database']['id']}/backups", json={"callback_url": callback_receiver.url}
    )
    backup = dbapi_client.call("GET", f"/backups/{backup_operation['backup_id']}").json()
    assert backup["state"] == "succeeded" and backup["kind"] == "manual"
    assert backup["size_bytes"] > 0 and len(backup["sha256"]) == 64 and backup["key_id"] == "k2"
    assert backup["stored_bytes"] > 0 and backup["duration_seconds"] >= 0
    assert backup_operation["progress_bytes"] == backup["size_bytes"] == backup["progress_bytes"]
    [backup_callback] = callback_receiver.delivered(backup_operation["id"])
    assert backup_callback["backup"]["sha256"] == backup["sha256"]

    restore = dbapi_client.run(
        "POST", f"/databases/{target['database']['id']}/restore",
        json={"backup_id": backup["id"], "callback_url": callback_receiver.url},
    )
    assert restore["progress_bytes"] == backup["size_bytes"]
    assert callback_receiver.delivered(restore["id"])[0]["state"] == "succeeded"
    # The clone has the same rows and belongs to the target's role: its app can use it.
    target_dsn = app_dsn(dbapi_admin_dsn, target)
    assert shop_rows(target_dsn) == shop_rows(app_dsn(dbapi_admin_dsn, source))
    assert len(shop_rows(target_dsn)) == ROWS
    with psycopg.connect(target_dsn) as connection:
        connection.execute("INSERT INTO orders (id, customer, total) VALUES (0, 'new', 1)")

    # Passwords appear in the create callbacks only: in no GET answer and in no log line.
    for payload in (source, target):
        shown = dbapi_client.call("GET", f"/databases/{payload['database']['id']}").text
        assert payload["database"]["password"] not in shown
        assert payload["database"]["password"] not in caplog.text
    for operation_id in (backup_operation["id"], restore["id"]):
        assert source["database"]["password"] not in str(dbapi_client.operation(operation_id))


def test_callbacks_are_signed_and_name_the_operation(dbapi_app, dbapi_client, callback_receiver, dbapi_names):
    from dbapi.callbacks import verify_signature

    payload = create_database(dbapi_client, callback_receiver, dbapi_names("signed"))
    [request] = [entry for entry in callback_receiver.requests if entry["status"] == 200]
    assert request["headers"]["X-Operation-Id"] == payload["operation_id"]
    assert request["headers"]["Content-Type"] == "application/json"
    secret = dbapi_app.extensions["dbapi"].settings.callback_secret
    assert verify_signature(secret, request["headers"]["X-Signature"], request["body"])
    assert not verify_signature("another-secret", request["headers"]["X-Signature"], request["body"])


def test_delete_drops_database_and_role(dbapi_client, callback_receiver, dbapi_names, dbapi_admin_dsn):
    payload = create_database(dbapi_client, callback_receiver, dbapi_names("gone"))
    database = payload["database"]
    operation = dbapi_client.run("DELETE", f"/databases/{database['id']}", json={"callback_url": callback_receiver.url})
    assert callback_receiver.delivered(operation["id"])[0]["database"]["state"] == "deleted"
    with psycopg.connect(dbapi_admin_dsn("postgres")) as connection:
        assert not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database["name"],)).fetchone()
        assert not connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (database["username"],)).fetchone()
    shown = dbapi_client.call("GET", f"/databases/{database['id']}").json()
    assert shown["state"] == "deleted" and shown["deleted_at"]
    again = dbapi_client.call("DELETE", f"/databases/{database['id']}", json={"callback_url": callback_receiver.url})
    assert again.status_code == 409


def test_stored_object_is_ciphertext_and_one_flipped_byte_fails_restore_loudly(
    dbapi_app, dbapi_client, callback_receiver, dbapi_names, dbapi_admin_dsn
):
    source = create_database(dbapi_client, callback_receiver, dbapi_names("secret"))
    target = create_database(dbapi_client, callback_receiver, dbapi_names("victim"))
    load_shop(app_dsn(dbapi_admin_dsn, source), rows=50)
    load_shop(app_dsn(dbapi_admin_dsn, target), rows=7)
    operation = dbapi_client.run(
        "POST", f"/databases/{source['database']['id']}/backups", json={"callback_url": callback_receiver.url}
    )
    stored = stored_object(dbapi_app, operation["backup_id"])
    for plaintext in (b"PGDMP", b"CREATE TABLE", b"orders", b"customer-1"):
        assert plaintext not in stored

    tampered = bytearray(stored)
    tampered[len(stored) // 2] ^= 0x01
    with dbapi_app.app_context():
        backup = db.session.get(Backup, operation["backup_id"])
        runtime().storage.write(backup.storage_key, iter([bytes(tampered)]))

    failed = dbapi_client.run(
        "POST", f"/databases/{target['database']['id']}/restore",
        json={"backup_id": operation["backup_id"], "callback_url": callback_receiver.url}, expect="failed",
    )
    assert "authentication" in failed["error"] or "modified or damaged" in failed["error"]
    [callback] = callback_receiver.delivered(failed["id"])
    assert callback["state"] == "failed" and callback["error"] == failed["error"]
    # The target is exactly as it was: the restore ran in one transaction.
    assert len(shop_rows(app_dsn(dbapi_admin_dsn, target))) == 7


def test_backups_made_under_a_retired_master_key_still_restore(
    dbapi_app, dbapi_environ, dbapi_master_keys, dbapi_client, callback_receiver, dbapi_names, dbapi_admin_dsn
):
    """A dbapi configured with k1 only makes a backup; the rotated dbapi (k2 current, k1 retired) restores it."""
    from dbapi import create_app
    from dbapi.config import Settings
    from dbapi.operations import backups
    from dbapi.worker import DbapiWorker

    source = create_database(dbapi_client, callback_receiver, dbapi_names("rotated"))
    target = create_database(dbapi_client, callback_receiver, dbapi_names("rotated_to"))
    load_shop(app_dsn(dbapi_admin_dsn, source), rows=30)

    before_rotation = create_app(Settings.from_env(
        {**dbapi_environ, "DBAPI_MASTER_KEYS": dbapi_master_keys["k1"], "DBAPI_QUEUE": dbapi_environ["DBAPI_QUEUE"] + "-k1"}
    ))
    with before_rotation.app_context():
        operation = backups.request_backup(source["database"]["id"], callback_url=callback_receiver.url,
                                           request_id=None)
        context = runtime()
        DbapiWorker([context.queue], connection=context.redis).work(burst=True)  # that dbapi's own worker
        backup = db.session.get(Backup, operation.backup_id)
        assert (backup.state, backup.key_id) == ("succeeded", "k1")

    restore = dbapi_client.run(
        "POST", f"/databases/{target['database']['id']}/restore",
        json={"backup_id": backup.id, "callback_url": callback_receiver.url},
    )
    assert restore["state"] == "succeeded"
    assert shop_rows(app_dsn(dbapi_admin_dsn, target)) == shop_rows(app_dsn(dbapi_admin_dsn, source))


def test_existing_database_on_the_server_fails_the_operation_and_creates_nothing(
    dbapi_app, dbapi_client, callback_receiver, dbapi_names, dbapi_admin_dsn
):
    name = dbapi_names("taken")
    with psycopg.connect(dbapi_admin_dsn("postgres"), autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    owner = dbapi_names("owner")
    operation = dbapi_client.run(
        "POST", "/databases", json={"name": name, "server": "main", "owner_role": owner,
                                    "callback_url": callback_receiver.url}, expect="failed",
    )
    assert operation["error"] == f"database {name!r} already exists on server 'main'"
    [callback] = callback_receiver.delivered(operation["id"])
    assert callback["state"] == "failed" and callback["error"] == operation["error"]
    assert "password" not in callback["database"]
    assert callback["database"]["state"] == "failed"
    with psycopg.connect(dbapi_admin_dsn("postgres")) as connection:
        assert not connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (owner,)).fetchone()


def test_existing_role_is_never_taken_over(dbapi_client, callback_receiver, dbapi_names, dbapi_admin_dsn):
    role = dbapi_names("someone")
    with psycopg.connect(dbapi_admin_dsn("postgres"), autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'their-own'").format(sql.Identifier(role)))
        before = connection.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,)).fetchone()
    name = dbapi_names("hijack")
    operation = dbapi_client.run(
        "POST", "/databases", json={"name": name, "server": "main", "owner_role": role,
                                    "callback_url": callback_receiver.url}, expect="failed",
    )
    assert "already exists" in operation["error"]
    with psycopg.connect(dbapi_admin_dsn("postgres")) as connection:
        after = connection.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,)).fetchone()
        assert after == before
        assert not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()


def test_half_made_role_is_dropped_when_the_database_cannot_be_created(
    dbapi_client, callback_receiver, dbapi_names, dbapi_admin_dsn
):
    """Server 'limited' connects as a role with CREATEROLE but not CREATEDB: the role gets made, the database
    is refused by PostgreSQL itself, and the operation must drop the role it made."""
    name = dbapi_names("halfway")
    operation = dbapi_client.run(
        "POST", "/databases", json={"name": name, "server": "limited", "callback_url": callback_receiver.url},
        expect="failed",
    )
    assert "permission denied to create database" in operation["error"]
    assert callback_receiver.delivered(operation["id"])[0]["error"] == operation["error"]
    with psycopg.connect(dbapi_admin_dsn("postgres")) as connection:
        assert not connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
        assert not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()


def test_full_disk_fails_the_backup_clearly_and_leaves_no_object(
    dbapi_client, callback_receiver, dbapi_names, dbapi_admin_dsn, dbapi_worker_process, tmp_path
):
    """A real full disk: the worker process runs with its storage folder on a 64 KiB tmpfs, mounted in a private
    mount namespace (`unshare`; without root, inside a user namespace), and the backup is bigger than that.
    Afterwards the worker lists what is left on that disk: nothing, the partial object was removed."""
    small_disk = tmp_path / "small-disk"
    small_disk.mkdir()
    source = create_database(dbapi_client, callback_receiver, dbapi_names("too_big"))
    with psycopg.connect(app_dsn(dbapi_admin_dsn, source)) as connection:
        connection.execute("CREATE TABLE blobs AS SELECT i, md5(random()::text) || md5(random()::text) AS noise "
                           "FROM generate_series(1, 20000) AS i")
    # As root, a user namespace would cost the access to pgserver's socket (owned by its own system user).
    namespaces = "--mount" if os.geteuid() == 0 else "--user --map-root-user --mount"
    worker = dbapi_worker_process(
        {"DBAPI_STORAGE": f"local:{small_disk}"}, burst=True,
        wrapper=f'unshare {namespaces} sh -c \'mount -t tmpfs -o size=64k tmpfs "{small_disk}" '
                f'&& $WORKER; echo "left on disk: $(find "{small_disk}" -type f | wc -l) files"\'',
    )
    response = dbapi_client.call(
        "POST", f"/databases/{source['database']['id']}/backups", json={"callback_url": callback_receiver.url}
    )
    assert response.status_code == 202
    output, _ = worker.communicate(timeout=120)
    assert "left on disk: 0 files" in output, output
    operation = dbapi_client.wait(response.json()["operation"]["id"])
    assert operation["state"] == "failed"
    assert operation["error"].startswith("storage is full: no space left while writing"), operation["error"]
    [callback] = callback_receiver.delivered(operation["id"])
    assert callback["state"] == "failed" and callback["error"] == operation["error"]
    backup = dbapi_client.call("GET", f"/backups/{operation['backup_id']}").json()
    assert backup["state"] == "failed" and backup["error"] == operation["error"] and backup["finished_at"]
    refused = dbapi_client.call(
        "POST", f"/databases/{source['database']['id']}/restore",
        json={"backup_id": backup["id"], "callback_url": callback_receiver.url},
    )
    assert refused.status_code == 409


def test_an_operation_whose_worker_died_fails_and_calls_back(dbapi_app, dbapi_client, dbapi_worker,
                                                             callback_receiver, dbapi_names):
    """RQ calls a job's failure callback when it finds the job abandoned by a dead worker; simulated by calling it
    the way RQ's registry cleanup does (killing a real worker mid-job would make the test slow and racy)."""
    from rq.exceptions import AbandonedJobError
    from rq.job import Job

    from dbapi.models import Operation
    from dbapi.operations import lifecycle

    dbapi_worker.pause()
    try:
        body = {"name": dbapi_names("abandoned"), "server": "main", "callback_url": callback_receiver.url}
        operation_id = dbapi_client.call("POST", "/databases", json=body).json()["operation"]["id"]
        with dbapi_app.app_context():
            job = Job.fetch(f"operation-{operation_id}", connection=runtime().redis)
            assert job.failure_callback is lifecycle.abandoned
            runtime().queue.remove(job)  # a worker took it...
            operation = db.session.get(Operation, operation_id)
            operation.state = "running"  # ...claimed it, and died
            db.session.commit()
            lifecycle.abandoned(job, runtime().redis, AbandonedJobError, AbandonedJobError(), None)
            db.session.remove()
    finally:
        dbapi_worker.resume()
    finished = dbapi_client.wait(operation_id)
    assert finished["state"] == "failed"
    assert finished["error"].startswith("the worker running this operation stopped before it finished")
    [payload] = callback_receiver.delivered(operation_id)
    assert payload["state"] == "failed" and "AbandonedJobError" in payload["error"]
