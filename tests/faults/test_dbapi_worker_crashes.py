"""SIGKILL dbapi's real worker (`python -m dbapi.worker`) in the middle of a backup and of a restore: the panel's watch
marks the operation stale with an alert, RQ finds the job abandoned and dbapi fails it and calls back, the panel
ends it failed with the reason, and a retry completes with no duplicate backup and no duplicate row."""
from __future__ import annotations

import json
import os
import shutil
import signal
import stat
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Alert, Backup, Database, Operation, utcnow
from app.operations import database_backups, stuck_operations
from app.operations.database_provisioning import create_database
from tests.databases.conftest import app_named, clients, dbapi, synced, wait_finished  # noqa: F401
from tests.faults.workers import rq_notices_the_dead_worker, wait_for
from tests.sync.conftest import locks, sync  # noqa: F401  (the real synchronizer)

# A pg tool that says it started, then waits until the test lets it go, and gives up when its worker is gone.
SLOW_TOOL = """#!/bin/sh
touch "{marks}/{tool}.started"
while [ ! -e "{marks}/release" ]; do
  kill -0 $PPID 2>/dev/null || exit 1
  sleep 0.1
done
exec "{real}" "$@"
"""


@pytest.fixture
def slow_tools(tmp_path, dbapi_pg) -> Path:
    """A bin folder like the server's, where pg_dump and pg_restore hold until `release` appears in it."""
    real_dir = Path(dbapi_pg.bin_dir) if dbapi_pg.bin_dir else Path(shutil.which("pg_dump")).parent
    folder = tmp_path / "slow-bin"
    folder.mkdir()
    for tool in real_dir.iterdir():
        if tool.name not in ("pg_dump", "pg_restore"):
            (folder / tool.name).symlink_to(tool)
    for tool in ("pg_dump", "pg_restore"):
        script = folder / tool
        script.write_text(SLOW_TOOL.format(marks=folder, tool=tool, real=real_dir / tool))
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return folder


@pytest.fixture
def slow_worker(dbapi_environ, dbapi_worker_process, slow_tools):
    """Start `python -m dbapi.worker` whose server `main` runs the slow tools (the thread worker pauses)."""
    servers = json.loads(dbapi_environ["DBAPI_SERVERS"])
    servers["main"]["bin_dir"] = str(slow_tools)
    # In a session of its own, so SIGKILL takes down the worker with its scheduler process and pg tools.
    return lambda: dbapi_worker_process({"DBAPI_SERVERS": json.dumps(servers)}, wrapper="exec setsid $WORKER")


@pytest.fixture
def billing(synced, dbapi, clients, dbapi_names, dbapi_admin_dsn) -> Database:  # noqa: F811
    """billing's database with two invoices, made through the panel with the ordinary worker."""
    operation = create_database(db.session, dbapi, app_named("billing"), server=clients.database_server("eu-prod"),
                                actor="alice", name_prefix=dbapi_names("crash") + "_")
    assert wait_finished(operation).state == "succeeded"
    database = db.session.get(Database, int(operation.target_id))
    with psycopg.connect(dbapi_admin_dsn(database.name), autocommit=True) as connection:
        connection.execute(f"CREATE TABLE invoices (id int primary key, total int);"
                           f" ALTER TABLE invoices OWNER TO {database.username};"
                           " INSERT INTO invoices VALUES (1, 100), (2, 250)")
    return database


def invoices(dsn_for, database: Database) -> list[tuple]:
    with psycopg.connect(dsn_for(database.name), autocommit=True) as connection:
        return connection.execute("SELECT id, total FROM invoices ORDER BY id").fetchall()


def kill_mid_tool(process, slow_tools: Path, tool: str, dbapi, operation: Operation) -> None:  # noqa: F811
    """Wait until dbapi runs the operation and its pg tool has started, then SIGKILL the worker."""
    db.session.refresh(operation)
    wait_for(lambda: (slow_tools / f"{tool}.started").exists()
             and dbapi.operation(operation.dbapi_operation_id).state == "running", f"{tool} to start")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def the_system_notices(dbapi_app, dbapi_worker, operation: Operation) -> Alert:
    """The panel's watch sees an operation with no result for hours; RQ sees the dead worker's job abandoned."""
    later = utcnow() + timedelta(hours=5)
    [stale] = stuck_operations.check(db.session, later)
    assert stale.id == operation.id and stale.state == "stale"
    alert = db.session.scalar(select(Alert).where(Alert.target_id == operation.uuid))
    assert alert is not None and alert.resolved_at is None
    from dbapi import runtime

    with dbapi_app.app_context():
        rq_notices_the_dead_worker(runtime().queue)  # dbapi fails the operation and calls the panel back
    dbapi_worker.resume()  # the ordinary worker delivers that callback
    return alert


def test_a_dbapi_worker_killed_mid_backup_fails_it_with_an_alert_and_a_retry_makes_one_backup(
        billing, dbapi, slow_worker, slow_tools, dbapi_app, dbapi_worker, dbapi_admin_dsn):  # noqa: F811
    process = slow_worker()
    operation = database_backups.capture(db.session, dbapi, billing, actor="alice")
    kill_mid_tool(process, slow_tools, "pg_dump", dbapi, operation)

    alert = the_system_notices(dbapi_app, dbapi_worker, operation)
    finished = wait_finished(operation)
    assert finished.state == "failed" and "stopped before it finished" in finished.error
    killed = db.session.get(Backup, int(operation.target_id))
    assert killed.state == "failed"
    assert dbapi.backup(killed.dbapi_backup_id).state == "failed"

    retry = wait_finished(database_backups.capture(db.session, dbapi, billing, actor="alice"))
    assert retry.state == "succeeded", retry.error
    db.session.expire_all()
    rows = db.session.scalars(select(Backup).where(Backup.database_id == billing.id).order_by(Backup.id)).all()
    assert [backup.state for backup in rows] == ["failed", "succeeded"]
    assert len({backup.dbapi_backup_id for backup in rows}) == 2
    assert dbapi.backup(rows[1].dbapi_backup_id).state == "succeeded"
    stuck_operations.check(db.session, utcnow())
    db.session.refresh(alert)
    assert alert.resolved_at is not None  # the operation ended: the stale alert is over


def test_a_dbapi_worker_killed_mid_restore_fails_it_and_a_retry_restores_each_row_once(
        billing, dbapi, slow_worker, slow_tools, dbapi_app, dbapi_worker, dbapi_admin_dsn):  # noqa: F811
    backup_operation = wait_finished(database_backups.capture(db.session, dbapi, billing, actor="alice"))
    assert backup_operation.state == "succeeded", backup_operation.error
    backup = db.session.get(Backup, int(backup_operation.target_id))
    with psycopg.connect(dbapi_admin_dsn(billing.name), autocommit=True) as connection:
        connection.execute("DELETE FROM invoices WHERE id = 2")

    process = slow_worker()
    operation = database_backups.restore(db.session, dbapi, backup, actor="alice")
    kill_mid_tool(process, slow_tools, "pg_restore", dbapi, operation)

    the_system_notices(dbapi_app, dbapi_worker, operation)
    finished = wait_finished(operation)
    assert finished.state == "failed" and "stopped before it finished" in finished.error

    retry = wait_finished(database_backups.restore(db.session, dbapi, backup, actor="alice"))
    assert retry.state == "succeeded", retry.error
    assert invoices(dbapi_admin_dsn, billing) == [(1, 100), (2, 250)]  # every row back, none twice
    db.session.expire_all()
    assert db.session.scalars(select(Backup.state).where(Backup.database_id == billing.id)).all() == ["succeeded"]
