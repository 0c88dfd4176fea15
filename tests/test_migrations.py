"""The migrations build the whole schema on empty SQLite and PostgreSQL databases, with no drift from the models."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid

import psycopg
import pytest
from sqlalchemy import create_engine, text
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


def seeded_at(revision: str, statements: list[str], database_url: str, tmp_path) -> None:
    """Migrate an empty database to `revision`, then insert `statements`' rows."""
    upgrade = flask_db(["upgrade", revision], database_url, tmp_path)
    assert upgrade.returncode == 0, upgrade.stderr
    engine = create_engine(database_url)
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
    engine.dispose()


def scalars(database_url: str, queries: tuple[str, ...]) -> tuple:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return tuple(connection.scalar(text(query)) for query in queries)
    finally:
        engine.dispose()


def migrate_keeping(commands: list[list[str]], queries: tuple[str, ...], expected: tuple, database_url: str,
                    tmp_path) -> None:
    """Run each `flask db` command; after each, `queries` answer `expected` (no row lost, no reference cut)."""
    for command in commands:
        migrated = flask_db(command, database_url, tmp_path)
        assert migrated.returncode == 0, migrated.stderr
        assert scalars(database_url, queries) == expected, command


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


# Rows of the tables 0016 rebuilds on SQLite (certificates, alerts) and of those pointing at them.
SEED = [
    "INSERT INTO regions (id, name, aws_region, timezone, backup_hour) VALUES (1, 'r', 'eu-west-1', 'UTC', 3)",
    "INSERT INTO clusters (id, name, region_id, kind, controller_url) VALUES (1, 'c', 1, 'production', 'http://c')",
    "INSERT INTO apps (id, cluster_id, name, uuid, owner, app_type, structure, config_values, memory, cpu, settings,"
    " monitoring_enabled, limit_drift, health_path, synced_at) VALUES (1, 1, 'a', 'u', 'o', 'web', '{}', '{}', '{}',"
    " '{}', '{}', TRUE, FALSE, '/', '2026-11-01 00:00:00.000000')",
    "INSERT INTO certificates (id, cluster_id, name, sans, expires_at, synced_at) VALUES"
    " (1, 1, 'dated', '[]', '2026-12-10 00:00:00.000000', '2026-11-01 00:00:00.000000'),"
    " (2, 1, 'undated', '[]', NULL, '2026-11-01 00:00:00.000000')",
    "INSERT INTO domains (id, app_id, name, certificate_id) VALUES (1, 1, 'a.example.test', 1)",
    "INSERT INTO alerts (id, kind, dedup_key, severity, message, first_at, last_at, resolved_at) VALUES"
    " (1, 'sync_failing', 'open', 'warning', 'm', '2026-11-01 00:00:00.000000', '2026-11-01 00:00:00.000000', NULL),"
    " (2, 'sync_failing', 'gone', 'warning', 'm', '2026-11-01 00:00:00.000000', '2026-11-01 00:00:00.000000',"
    " '2026-11-02 00:00:00.000000')",
    "INSERT INTO alert_deliveries (id, alert_id, notice, channel, channel_label, state, attempts, created_at) VALUES"
    " (1, 1, 'raised', 'email', 'email', 'delivered', 1, '2026-11-01 00:00:00.000000')",
]


REFERENCING_ROWS = ("SELECT certificate_id FROM domains WHERE id = 1", "SELECT count(*) FROM alert_deliveries",
                    "SELECT count(*) FROM certificates", "SELECT count(*) FROM alerts")


def test_the_list_sort_keys_migrate_up_down_and_up_keeping_every_row_on_sqlite(tmp_path):
    """0016 rebuilds certificates and alerts on SQLite: domains keep their certificate, alerts their deliveries (a
    rebuild with foreign keys enforced would null the one and delete the other), and the generated keys are filled."""
    database_url = f"sqlite:///{tmp_path / 'rows.sqlite'}"
    seeded_at("0015_monit", SEED, database_url, tmp_path)
    migrate_keeping([["upgrade"], ["downgrade", "0015_monit"], ["upgrade"]], REFERENCING_ROWS, (1, 1, 2, 2),
                    database_url, tmp_path)
    engine = create_engine(database_url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT name, list_expiry FROM certificates ORDER BY list_expiry")).all() == [
            ("dated", "2026-12-10 00:00:00.000000"), ("undated", "9999-12-31 00:00:00.000000")]
        assert connection.execute(text("SELECT id, list_unresolved FROM alerts ORDER BY id")).all() == [(1, 1), (2, 0)]
        assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    engine.dispose()
    check = flask_db(["check"], database_url, tmp_path)
    assert check.returncode == 0 and "No new upgrade operations detected" in check.stdout + check.stderr


# Rows of the instances table 0014 rebuilds on SQLite, and of the three tables pointing at it.
INSTANCE_SEED = [
    "INSERT INTO instances (id, aws_id, aws_region, name, role, state, tags, synced_at, public_ip) VALUES"
    " (1, 'i-0001', 'eu-west-1', 'web-1', 'deis', 'running', '{}', '2026-11-01 00:00:00.000000', '203.0.113.7')",
    "INSERT INTO maintenance_events (id, instance_id, event_id, code, completed, first_seen_at) VALUES"
    " (1, 1, 'instance-event-1', 'system-reboot', FALSE, '2026-11-01 00:00:00.000000')",
    "INSERT INTO load_balancers (id, aws_region, name, kind, dns_name, synced_at) VALUES"
    " (1, 'eu-west-1', 'lb', 'classic', 'lb.elb.test', '2026-11-01 00:00:00.000000')",
    "INSERT INTO load_balancer_members (id, load_balancer_id, instance_id, health) VALUES (1, 1, 1, 'InService')",
    "INSERT INTO dns_zones (id, cf_id, name, synced_at) VALUES (1, 'z1', 'example.test', '2026-11-01 00:00:00.000000')",
    "INSERT INTO dns_records (id, zone_id, cf_id, name, type, content, ttl, proxied, instance_id, dangling, synced_at)"
    " VALUES (1, 1, 'r1', 'web.example.test', 'A', '203.0.113.7', 300, FALSE, 1, FALSE, '2026-11-01 00:00:00.000000')",
]


INSTANCE_REFERENCES = ("SELECT count(*) FROM maintenance_events", "SELECT count(*) FROM load_balancer_members",
                       "SELECT instance_id FROM dns_records WHERE id = 1", "SELECT count(*) FROM instances")


def test_the_instance_sort_keys_migrate_up_down_and_up_keeping_what_points_at_instances_on_sqlite(tmp_path):
    """0014 rebuilds instances on SQLite: with foreign keys enforced the rebuild deleted every maintenance event and
    balancer member (ON DELETE CASCADE) and unlinked DNS records (SET NULL)."""
    database_url = f"sqlite:///{tmp_path / 'instances.sqlite'}"
    seeded_at("0013", INSTANCE_SEED, database_url, tmp_path)
    migrate_keeping([["upgrade", "0014_lists"], ["downgrade", "0013"], ["upgrade"]], INSTANCE_REFERENCES,
                    (1, 1, 1, 1), database_url, tmp_path)
    engine = create_engine(database_url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT list_label FROM instances")).scalar() == "web-1"
        assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    engine.dispose()


# A change set with its items, and a DNS record pointing at an instance: the tables 0008 rebuilds on SQLite
# (change_sets for its wider state, dns_records for its new foreign key) and what references them.
CHANGE_SET_SEED = [
    "INSERT INTO change_sets (id, kind, state, description, created_by, created_at) VALUES"
    " (1, 'cluster_switch', 'applied', 'switch', 'alice', '2026-11-01 00:00:00.000000')",
    "INSERT INTO change_sets (id, kind, state, description, created_by, created_at, rollback_of_id) VALUES"
    " (2, 'rollback', 'planned', 'undo', 'alice', '2026-11-01 00:00:00.000000', 1)",
    "INSERT INTO change_set_items (id, change_set_id, zone_cf_id, record_cf_id, action, state) VALUES"
    " (1, 1, 'z1', 'r1', 'update', 'applied'), (2, 1, 'z1', 'r2', 'update', 'applied'),"
    " (3, 2, 'z1', 'r1', 'update', 'pending')",
    *INSTANCE_SEED,
]


CHANGE_SET_REFERENCES = ("SELECT count(*) FROM change_sets", "SELECT count(*) FROM change_set_items",
                         "SELECT rollback_of_id FROM change_sets WHERE id = 2", "SELECT count(*) FROM dns_records",
                         "SELECT instance_id FROM dns_records WHERE id = 1")


def test_the_change_set_engine_migrates_up_down_and_up_keeping_every_item_on_sqlite(tmp_path):
    """0008 rebuilds change_sets and dns_records on SQLite: with foreign keys enforced, dropping the old
    change_sets deleted every change set item (ON DELETE CASCADE)."""
    database_url = f"sqlite:///{tmp_path / 'change_sets.sqlite'}"
    seeded_at("0007", CHANGE_SET_SEED, database_url, tmp_path)
    migrate_keeping([["upgrade", "0008"], ["downgrade", "0007"], ["upgrade", "0008"]], CHANGE_SET_REFERENCES,
                    (2, 3, 1, 1, 1), database_url, tmp_path)
    engine = create_engine(database_url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    engine.dispose()


def test_the_ipv6_and_target_group_columns_migrate_down_and_up_keeping_what_points_at_instances_on_sqlite(tmp_path):
    """0003's downgrade rebuilds instances on SQLite (dropping a column): with foreign keys enforced that deleted
    every maintenance event and balancer member and unlinked DNS records."""
    database_url = f"sqlite:///{tmp_path / 'ipv6.sqlite'}"
    seeded_at("0003", INSTANCE_SEED, database_url, tmp_path)
    migrate_keeping([["downgrade", "0002"], ["upgrade", "0003"]], INSTANCE_REFERENCES, (1, 1, 1, 1), database_url,
                    tmp_path)


def test_every_migration_down_to_the_first_and_up_again_keeps_an_app_and_what_points_at_it_on_sqlite(tmp_path):
    """Every SQLite migration runs with the foreign key check off (migrations/env.py): a downgrade of 0007 rebuilt
    apps (dropping a column), 0010 regions, 0004 alerts, 0009 backups, each deleting or refusing what referenced
    them. The rows seeded at the head survive a downgrade to 0001 and an upgrade to the head."""
    database_url = f"sqlite:///{tmp_path / 'all.sqlite'}"
    seeded_at("head", [
        "INSERT INTO regions (id, name, aws_region, timezone, backup_hour) VALUES"
        " (1, 'europe', 'eu-west-1', 'Europe/Dublin', 3)",
        "INSERT INTO clusters (id, name, region_id, controller_url, kind) VALUES"
        " (1, 'eu-prod', 1, 'http://deis.test', 'production')",
        "INSERT INTO apps (id, cluster_id, name, uuid, owner, app_type, structure, config_values, memory, cpu,"
        " settings, monitoring_enabled, limit_drift, health_path, synced_at) VALUES (1, 1, 'shop', 'u-1',"
        " 'alice', 'web', '{}', '{}', '{}', '{}', '{}', FALSE, FALSE, '/', '2026-11-01 00:00:00.000000')",
        "INSERT INTO domains (id, app_id, name) VALUES (1, 1, 'shop.example.test')",
        *INSTANCE_SEED,
    ], database_url, tmp_path)
    tables = ("regions", "clusters", "apps", "domains", "instances", "maintenance_events", "load_balancer_members",
              "dns_records")
    migrate_keeping([["downgrade", "0001"], ["upgrade"]], tuple(f"SELECT count(*) FROM {table}" for table in tables),
                    (1,) * len(tables), database_url, tmp_path)
