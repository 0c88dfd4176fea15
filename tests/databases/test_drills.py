"""Restore drills end to end: dbapi restores a backup into a scratch database, counts tables and rows and drops it;
the panel records "verified" with the figures, or flags a damaged backup and raises one alert."""
from __future__ import annotations

import psycopg
from sqlalchemy import select

from dbapi import runtime
from dbapi.models import Backup as DbapiBackup, db as dbapi_db

from app.extensions import db
from app.models import Alert, Backup
from app.operations import database_backups
from tests.databases.conftest import wait_finished
from tests.databases.test_provisioning_and_backups import provision, run_sql  # noqa: F401  (fixture)


def damage(dbapi_app, backup_id: str) -> None:
    """Flip one byte in the middle of the stored (encrypted) object, as a failing disk would."""
    with dbapi_app.app_context():
        key = dbapi_db.session.get(DbapiBackup, backup_id).storage_key
        storage = runtime().storage
        stored = bytearray(b"".join(storage.read(key)))
        stored[len(stored) // 2] ^= 0x01
        storage.write(key, iter([bytes(stored)]))


def scratch_databases(dbapi_admin_dsn) -> list[str]:
    with psycopg.connect(dbapi_admin_dsn("postgres")) as connection:
        return [name for (name,) in connection.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'dbapi\\_drill\\_%'")]


def test_a_drill_verifies_a_good_backup_and_flags_a_damaged_one(provision, dbapi, dbapi_app,  # noqa: F811
                                                               dbapi_admin_dsn):
    billing = provision("billing")
    run_sql(dbapi_admin_dsn, billing, f"CREATE TABLE invoices (id int primary key); ALTER TABLE invoices OWNER TO"
                                      f" {billing.username}; INSERT INTO invoices SELECT generate_series(1, 25);"
                                      f" CREATE TABLE notes (body text); ALTER TABLE notes OWNER TO"
                                      f" {billing.username}; INSERT INTO notes VALUES ('a'), ('b')")
    good = db.session.get(Backup, int(wait_finished(
        database_backups.capture(db.session, dbapi, billing, actor="alice")).target_id))
    bad = db.session.get(Backup, int(wait_finished(
        database_backups.capture(db.session, dbapi, billing, actor="alice")).target_id))

    drill = wait_finished(database_backups.verify(db.session, dbapi, good, actor="alice"))
    assert drill.state == "succeeded", drill.error
    db.session.refresh(good)
    assert (good.verification, good.verified_tables, good.verified_rows) == ("verified", 2, 27)
    assert db.session.scalars(select(Alert)).all() == []

    damage(dbapi_app, bad.dbapi_backup_id)
    failed = wait_finished(database_backups.verify(db.session, dbapi, bad, actor="alice"))
    assert failed.state == "failed"
    db.session.refresh(bad)
    assert bad.verification == "failed" and bad.verification_error
    [alert] = db.session.scalars(select(Alert)).all()
    assert alert.kind == "restore_drill_failed" and f"backup #{bad.id}" in alert.message and alert.severity == "critical"
    # The tenant's database is untouched and no scratch database is left behind.
    assert run_sql(dbapi_admin_dsn, billing, "SELECT count(*) FROM invoices") == [(25,)]
    assert scratch_databases(dbapi_admin_dsn) == []

    # A later good drill of the same database resolves the alert.
    assert wait_finished(database_backups.verify(db.session, dbapi, good, actor="alice")).state == "succeeded"
    db.session.expire_all()
    assert db.session.scalars(select(Alert)).one().resolved_at is not None


def test_dbapi_refuses_to_drill_an_unknown_or_unfinished_backup(dbapi_client, callback_receiver):
    unknown = dbapi_client.call("POST", "/backups/00000000-0000-4000-8000-000000000000/verify",
                                json={"callback_url": callback_receiver.url})
    assert unknown.status_code == 404 and "no backup with id" in unknown.json()["message"]
    unsigned = dbapi_client.http.post(dbapi_client.base_url + "/backups/x/verify", json={},
                                      headers={"Authorization": "Bearer wrong"}, timeout=10)
    assert unsigned.status_code == 401
    openapi = dbapi_client.call("GET", "/openapi.json").json()
    assert "/backups/{backup_id}/verify" in openapi["paths"]
