"""A migrated database keeps the monit versions exactly like a fresh `create_all` one: same triggers, and they bump."""
from __future__ import annotations

import uuid

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.models import Base
from tests.test_migrations import flask_db

TRIGGERS = {
    "sqlite": "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name",
    "postgresql": "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname",
}
FUNCTIONS = ("SELECT proname, prosrc FROM pg_proc WHERE proname LIKE 'monit_version%' ORDER BY proname")


def schema_triggers(url: str) -> tuple[list, list]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            triggers = [tuple(row) for row in connection.execute(text(TRIGGERS[engine.dialect.name]))]
            functions = ([tuple(row) for row in connection.execute(text(FUNCTIONS))]
                         if engine.dialect.name == "postgresql" else [])
        return triggers, functions
    finally:
        engine.dispose()


def bumps(url: str) -> list[tuple]:
    """Versions after a region, a cluster and an app are written by hand (no ORM)."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO regions (name, aws_region, timezone, backup_hour, backup_minute)"
                                    " VALUES ('eu', 'eu-west-1', 'UTC', 3, 0)"))
            connection.execute(text("INSERT INTO clusters (name, region_id, kind, controller_url)"
                                    " SELECT 'eu-prod', id, 'production', 'x' FROM regions"))
            connection.execute(text(
                "INSERT INTO apps (cluster_id, name, uuid, owner, app_type, structure, config_values, memory, cpu,"
                " settings, monitoring_enabled, limit_drift, health_path, synced_at) SELECT id, 'shop', 'u', 'o',"
                " 'web', '{}', '{}', '{}', '{}', '{}', :on, :off, '/', CURRENT_TIMESTAMP FROM clusters"),
                {"on": True, "off": False})
        with engine.connect() as connection:
            first = dict(connection.execute(text("SELECT part, version FROM monit_versions")).tuples().all())
        with engine.begin() as connection:
            connection.execute(text("UPDATE apps SET health_path = '/status'"))
        with engine.connect() as connection:
            second = dict(connection.execute(text("SELECT part, version FROM monit_versions")).tuples().all())
        return [first, second]
    finally:
        engine.dispose()


def check(migrated_url: str, fresh_url: str, tmp_path) -> None:
    upgrade = flask_db(["upgrade"], migrated_url, tmp_path)
    assert upgrade.returncode == 0, upgrade.stderr
    engine = create_engine(fresh_url)
    Base.metadata.create_all(engine)
    engine.dispose()
    migrated, fresh = schema_triggers(migrated_url), schema_triggers(fresh_url)
    assert len(migrated[0]) == 18  # six input tables, three triggers each
    assert migrated == fresh
    first, second = bumps(migrated_url)
    assert set(first) == {"platform", "cluster:1"}
    assert second["cluster:1"] > first["cluster:1"] and second["platform"] == first["platform"]

    downgrade = flask_db(["downgrade", "0014_lists"], migrated_url, tmp_path)
    assert downgrade.returncode == 0, downgrade.stderr
    assert schema_triggers(migrated_url) == ([], [])


def test_sqlite_migration_makes_the_same_triggers_as_create_all(tmp_path):
    check(f"sqlite:///{tmp_path / 'migrated.sqlite'}", f"sqlite:///{tmp_path / 'fresh.sqlite'}", tmp_path)


def test_postgresql_migration_makes_the_same_triggers_as_create_all(tmp_path, postgres_server_url):
    names = [f"adminpanel_monit_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("migrated", "fresh")]
    with psycopg.connect(postgres_server_url, autocommit=True) as connection:
        for name in names:
            connection.execute(f'CREATE DATABASE "{name}"')
    try:
        migrated, fresh = (make_url(postgres_server_url).set(drivername="postgresql+psycopg", database=name)
                           .render_as_string(hide_password=False) for name in names)
        check(migrated, fresh, tmp_path)
    finally:
        with psycopg.connect(postgres_server_url, autocommit=True) as connection:
            for name in names:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
