"""End to end: the panel asks the live dbapi (real PostgreSQL, pg_dump/pg_restore, RQ worker), dbapi calls the live
panel back, and the app's DATABASE_URL lands in the Deis simulator with the primary's DNS name; backups capture,
restore, and clone to another app whose database then holds the first app's rows."""
from __future__ import annotations

from urllib.parse import urlsplit

import psycopg
from psycopg.conninfo import make_conninfo
import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Backup, Database, Operation
from app.operations import database_backups
from app.operations.database_backups import BackupRefused
from app.operations.database_provisioning import ProvisioningRefused, create_database
from tests.databases.conftest import app_named, wait_finished

PRIMARY = "primary.db.eu-prod.example.net"


def deis_config(sandbox, name: str) -> dict:
    return sandbox.deis["eu-prod"].app(name)["config"]["values"]


@pytest.fixture
def provision(synced, dbapi, clients, dbapi_names):
    prefix = dbapi_names("p") + "_"  # unique per test; the session prefix lets dbapi_pg drop it all at the end

    def make(app_name: str) -> Database:
        operation = create_database(db.session, dbapi, app_named(app_name), server=clients.database_server("eu-prod"),
                                    actor="alice", name_prefix=prefix)
        finished = wait_finished(operation)
        assert finished.state == "succeeded", finished.error
        return db.session.get(Database, int(finished.target_id))

    return make


def run_sql(dsn_for, database: Database, statement: str) -> list[tuple]:
    with psycopg.connect(dsn_for(database.name), autocommit=True) as connection:
        cursor = connection.execute(statement)
        return cursor.fetchall() if cursor.description else []


def test_create_sets_database_url_with_the_primary_dns_name_and_connects(provision, sandbox, dbapi_pg):
    before = deis_config(sandbox, "billing")
    database = provision("billing")

    url = deis_config(sandbox, "billing")["DATABASE_URL"]
    parts = urlsplit(url)
    assert (parts.hostname, parts.port, parts.path) == (PRIMARY, 5432, f"/{database.name}")
    assert parts.username == database.username and parts.password  # the role's password, only in Deis
    assert {key: value for key, value in deis_config(sandbox, "billing").items() if key != "DATABASE_URL"} == before
    assert database.state == "ready" and database.dbapi_id
    # The URL works against the real server once the DNS name is swapped for where the test PostgreSQL listens.
    test_server = make_conninfo(dbapi_pg.dsn, user=parts.username, password=parts.password, dbname=database.name)
    with psycopg.connect(test_server) as connection:
        assert connection.execute("SELECT current_user").fetchone() == (database.username,)
    # The password is in no panel row: not on the operation, the audit log or the database row.
    for row in db.session.scalars(select(Operation)).all():
        assert parts.password not in repr((row.result, row.error, row.progress_message))
    for event in db.session.scalars(select(AuditEvent)).all():
        assert parts.password not in repr((event.before, event.after))


def test_capture_restore_and_clone_to_a_second_app(provision, dbapi, dbapi_admin_dsn):
    billing, blog = provision("billing"), provision("blog")
    run_sql(dbapi_admin_dsn, billing, f"CREATE TABLE invoices (id int primary key, total int);"
                                      f" ALTER TABLE invoices OWNER TO {billing.username};"
                                      " INSERT INTO invoices VALUES (1, 100), (2, 250)")

    captured = wait_finished(database_backups.capture(db.session, dbapi, billing, actor="alice"))
    assert captured.state == "succeeded", captured.error
    backup = db.session.get(Backup, int(captured.target_id))
    assert (backup.state, backup.kind) == ("succeeded", "manual") and backup.size_bytes > 0

    run_sql(dbapi_admin_dsn, billing, "DELETE FROM invoices WHERE id = 2")
    restored = wait_finished(database_backups.restore(db.session, dbapi, backup, actor="alice"))
    assert restored.state == "succeeded", restored.error
    assert run_sql(dbapi_admin_dsn, billing, "SELECT id, total FROM invoices ORDER BY id") == [(1, 100), (2, 250)]

    clone = database_backups.clone(db.session, backup, app_named("blog"), actor="alice")
    assert (clone.kind, clone.state, clone.database_id, clone.cloned_from_id) == ("cloned", "succeeded", blog.id,
                                                                                 backup.id)
    into_blog = wait_finished(database_backups.restore(db.session, dbapi, clone, actor="alice"))
    assert into_blog.state == "succeeded", into_blog.error
    assert run_sql(dbapi_admin_dsn, blog, "SELECT id, total FROM invoices ORDER BY id") == [(1, 100), (2, 250)]

    # Deleting the origin keeps the object while the clone names it; deleting the clone then removes it.
    assert database_backups.delete_backup(db.session, dbapi, backup, actor="alice").state == "succeeded"
    assert dbapi.backup(backup.dbapi_backup_id).state == "succeeded"
    assert database_backups.delete_backup(db.session, dbapi, clone, actor="alice").state == "succeeded"
    assert dbapi.backup(backup.dbapi_backup_id).state == "deleted"


def test_refusals_change_nothing(provision, dbapi, clients, sandbox, synced):
    server = clients.database_server("eu-prod")
    billing = provision("billing")
    count = db.session.query(Database).count
    before = (count(), deis_config(sandbox, "billing"), deis_config(sandbox, "shop"))

    with pytest.raises(ProvisioningRefused, match="billing already has database"):
        create_database(db.session, dbapi, app_named("billing"), server=server, actor="alice")
    # Where it points, as host, port and database only: neither the user nor the password.
    with pytest.raises(ProvisioningRefused, match=r"DATABASE_URL was set by hand and points at "
                                                  r"primary\.db\.eu-prod\.example\.net:5432/shop;"):
        create_database(db.session, dbapi, app_named("shop"), server=server, actor="alice")
    with pytest.raises(BackupRefused, match="reports has no ready database"):
        good = Backup(database_id=billing.id, kind="manual", state="succeeded", dbapi_backup_id="b-any")
        database_backups.clone(db.session, good, app_named("reports"), actor="alice")
    db.session.rollback()
    failed_backup = Backup(database_id=billing.id, kind="manual", state="failed", dbapi_backup_id="x")
    db.session.add(failed_backup)
    db.session.commit()
    with pytest.raises(BackupRefused, match="failed: only a succeeded backup can be restored"):
        database_backups.restore(db.session, dbapi, failed_backup, actor="alice")
    assert (count(), deis_config(sandbox, "billing"), deis_config(sandbox, "shop")) == before
    assert db.session.query(Operation).filter(Operation.kind == "database.restore").count() == 0


def test_a_cluster_without_a_known_primary_is_refused(synced, dbapi, clients):
    from app.models import Instance

    for instance in db.session.scalars(select(Instance).where(Instance.db_role == "primary")):
        instance.db_role = "replica"  # as after a failover the panel has not seen yet
    db.session.commit()
    with pytest.raises(ProvisioningRefused, match="eu-prod has no known PostgreSQL primary"):
        create_database(db.session, dbapi, app_named("billing"), server="main", actor="alice")
    assert db.session.query(Database).count() == 0 and db.session.query(Operation).count() == 0


def test_dbapi_refusal_fails_the_operation_in_its_words_and_leaves_the_config(synced, dbapi, sandbox):
    before = deis_config(sandbox, "billing")
    operation = create_database(db.session, dbapi, app_named("billing"), server="nowhere", actor="alice")
    assert operation.state == "failed" and "server" in operation.error and "422" in operation.error
    assert deis_config(sandbox, "billing") == before
    assert app_named("billing").database is None  # it may try again


def test_a_successful_backup_queues_its_databases_rotation_which_keeps_the_newest(provision, dbapi):
    from app.queues import queue
    from jobs.backup_rotation import rotate_backups

    backups_queue = queue("backups")
    backups_queue.empty()
    billing = provision("billing")
    captured = wait_finished(database_backups.capture(db.session, dbapi, billing, kind="scheduled", actor="cron"))
    assert captured.state == "succeeded", captured.error

    [job] = [job for job in backups_queue.get_jobs() if job.func_name == "jobs.backup_rotation.rotate_backups"]
    assert job.args == (billing.id,)
    assert rotate_backups(billing.id) == 0  # the newest good backup is never rotated away
    backups_queue.empty()
    db.session.expire_all()
    assert db.session.get(Backup, int(captured.target_id)).state == "succeeded"
