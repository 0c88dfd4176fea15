"""Processes of the Databases API started at the same instant on a fresh data folder (or a fresh PostgreSQL
database) all start, and the schema they create together is complete.

Each process is a real, separate interpreter (multiprocessing "spawn") that calls `dbapi.create_app()` from its
environment, as `python -m dbapi` and `python -m dbapi.worker` do at start; a barrier releases them together just
before it. create_app connects to neither Redis nor the managed servers, so those only need to be configured.
"""
from __future__ import annotations

import multiprocessing
import os
import secrets
import traceback
from pathlib import Path

import psycopg
import pytest
import sqlalchemy
from psycopg import sql

PROCESSES = 6
# One round in `make test` (six fresh interpreters at a barrier failed every time before the fix); more in
# `make test-long` (RACE_ROUNDS).
ROUNDS = int(os.environ.get("RACE_ROUNDS", "1"))
WAIT_SECONDS = 120  # a bound for a loaded machine; nothing here measures speed
TABLES = {"databases", "backups", "operations", "tokens"}


def _start_together(environ: dict[str, str], barrier, results) -> None:
    os.environ.update(environ)
    try:
        from dbapi import create_app  # imported before the barrier: only the start itself runs at the same instant

        barrier.wait(WAIT_SECONDS)
        create_app()
        results.put((os.getpid(), None))
    except BaseException:  # noqa: BLE001 - reported to the test, which fails with it
        results.put((os.getpid(), traceback.format_exc()))


def start_at_once(environ: dict[str, str]) -> None:
    """PROCESSES processes run create_app at the same instant; every one of them must succeed."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(PROCESSES), context.Queue()
    processes = [context.Process(target=_start_together, args=(environ, barrier, results)) for _ in range(PROCESSES)]
    for process in processes:
        process.start()
    try:
        outcomes = dict(results.get(timeout=WAIT_SECONDS) for _ in processes)
    finally:
        for process in processes:
            process.join(WAIT_SECONDS)
    failures = {pid: error for pid, error in outcomes.items() if error}
    assert not failures, "\n".join(failures.values())
    assert all(process.exitcode == 0 for process in processes)


def schema_of(url: str) -> dict[str, dict[str, set]]:
    """Table -> its columns, index names and unique column sets, as the database itself reports them."""
    engine = sqlalchemy.create_engine(url)
    try:
        inspector = sqlalchemy.inspect(engine)
        return {
            table: {
                "columns": {column["name"] for column in inspector.get_columns(table)},
                "indexes": {index["name"] for index in inspector.get_indexes(table)
                            if not index.get("duplicates_constraint")},
                "unique": {tuple(unique["column_names"]) for unique in inspector.get_unique_constraints(table)},
                "foreign_keys": {tuple(key["constrained_columns"]) for key in inspector.get_foreign_keys(table)},
            }
            for table in inspector.get_table_names()
        }
    finally:
        engine.dispose()


def expected_schema() -> dict[str, dict[str, set]]:
    from dbapi.models import db

    return {
        table.name: {
            "columns": {column.name for column in table.columns},
            "indexes": {index.name for index in table.indexes},
            "unique": {(column.name,) for column in table.columns if column.unique},
            "foreign_keys": {tuple(key.column_keys) for key in table.foreign_key_constraints},
        }
        for table in db.metadata.sorted_tables
    }


def base_environ(data_dir: Path) -> dict[str, str]:
    return {
        "DBAPI_DATA_DIR": str(data_dir),
        "DBAPI_REDIS_URL": os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15",  # never contacted at start
        "DBAPI_SERVERS": '{"main": {"dsn": "postgresql://postgres@127.0.0.1:5432/postgres"}}',  # nor is this
    }


def test_expected_schema_is_what_the_models_declare():
    assert TABLES <= set(expected_schema())


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_simultaneous_starts_on_a_fresh_sqlite_data_folder(tmp_path, round_):
    data_dir = tmp_path / "dbapi"  # does not exist yet: the processes create it too
    start_at_once(base_environ(data_dir))
    assert schema_of(f"sqlite:///{data_dir / 'dbapi.sqlite'}") == expected_schema()


@pytest.fixture
def fresh_postgres_database(postgres_server_url):
    """The SQLAlchemy URL of a new, empty database on the session's real PostgreSQL (dropped afterwards)."""
    name = f"dbapi_start_{secrets.token_hex(4)}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = sqlalchemy.make_url(postgres_server_url).set(drivername="postgresql+psycopg", database=name)
    yield url.render_as_string(hide_password=False)
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_simultaneous_starts_on_a_fresh_postgresql_database(tmp_path, fresh_postgres_database, round_):
    url = fresh_postgres_database
    start_at_once({**base_environ(tmp_path / "dbapi"), "DBAPI_DATABASE_URL": url})
    assert schema_of(url) == expected_schema()
