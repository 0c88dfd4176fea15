"""Panel processes started at the same instant on a fresh instance folder, each migrating the database (a release
step on every machine, an init container per replica), all succeed and leave the complete schema.

The panel's web process and its `rq worker` create no schema when they start (`create_app` runs no DDL: the schema
is `flask db upgrade`'s alone), so only concurrent upgrades can race; here every process does both, like a start
script that migrates then serves. Each is a real, separate interpreter (multiprocessing "spawn") released by a
barrier just before `create_app()` + `flask_migrate.upgrade()`, which is what `flask db upgrade` runs.
"""
from __future__ import annotations

import multiprocessing
import os
import traceback
import uuid

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.test_migrations import flask_db

PROCESSES = 5
# One round in `make test` (six fresh interpreters at a barrier failed every time before the fix); more in
# `make test-long` (RACE_ROUNDS).
ROUNDS = int(os.environ.get("RACE_ROUNDS", "1"))
WAIT_SECONDS = 180  # a bound for a loaded machine; nothing here measures speed


def _start_and_migrate(environ: dict[str, str], barrier, results) -> None:
    os.environ.update(environ)
    os.environ.pop("REDIS_URL", None)
    try:
        import flask_migrate

        from app import create_app  # imported before the barrier: only the start itself runs at the same instant

        barrier.wait(WAIT_SECONDS)
        app = create_app()
        with app.app_context():
            flask_migrate.upgrade()
        results.put((os.getpid(), None))
    except BaseException:  # noqa: BLE001 - reported to the test, which fails with it
        results.put((os.getpid(), traceback.format_exc()))


def migrate_at_once(database_url: str, tmp_path) -> None:
    environ = {"DATABASE_URL": database_url, "ADMIN_PANEL_INSTANCE_DIR": str(tmp_path / "instance")}
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(PROCESSES), context.Queue()
    processes = [context.Process(target=_start_and_migrate, args=(environ, barrier, results))
                 for _ in range(PROCESSES)]
    for process in processes:
        process.start()
    try:
        outcomes = dict(results.get(timeout=WAIT_SECONDS) for _ in processes)
    finally:
        for process in processes:
            process.join(WAIT_SECONDS)
    failures = [error for error in outcomes.values() if error]
    assert not failures, "\n".join(failures)
    assert all(process.exitcode == 0 for process in processes)
    # The schema is complete: at the head revision, and no drift from the models.
    current = flask_db(["current"], database_url, tmp_path)
    assert current.returncode == 0 and "(head)" in current.stdout, current.stderr + current.stdout
    check = flask_db(["check"], database_url, tmp_path)
    assert check.returncode == 0, check.stderr + check.stdout


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_simultaneous_migrations_on_a_fresh_sqlite_instance(tmp_path, round_):
    migrate_at_once(f"sqlite:///{tmp_path / 'instance' / 'admin-panel.sqlite'}", tmp_path)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_simultaneous_migrations_on_a_fresh_postgresql_database(tmp_path, postgres_server_url, round_):
    name = f"adminpanel_race_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        migrate_at_once(make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False),
                        tmp_path)
    finally:
        with psycopg.connect(postgres_server_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
