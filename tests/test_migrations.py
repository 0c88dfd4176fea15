"""The migrations build the whole schema on empty SQLite and PostgreSQL databases, with no drift from the models."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid

import psycopg
import pytest
from sqlalchemy.engine import make_url


def flask_db(command: list[str], database_url: str, tmp_path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "ADMIN_PANEL_INSTANCE_DIR": str(tmp_path / "instance")}
    env.pop("REDIS_URL", None)
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", *command],
                          env=env, capture_output=True, text=True, timeout=180)


def upgrade_and_check(database_url: str, tmp_path) -> None:
    upgrade = flask_db(["upgrade"], database_url, tmp_path)
    assert upgrade.returncode == 0, upgrade.stderr
    assert "Running upgrade  -> 0001" in upgrade.stderr
    check = flask_db(["check"], database_url, tmp_path)
    assert check.returncode == 0, check.stderr + check.stdout
    assert "No new upgrade operations detected" in check.stdout + check.stderr


def test_migrations_on_empty_sqlite(tmp_path):
    upgrade_and_check(f"sqlite:///{tmp_path / 'empty.sqlite'}", tmp_path)


def test_migrations_on_empty_postgresql(tmp_path, postgres_admin_url):
    name = f"adminpanel_migtest_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        database_url = make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
        upgrade_and_check(database_url, tmp_path)
    finally:
        with psycopg.connect(postgres_admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_admin_url(postgres_server_url) -> str:
    return postgres_server_url
