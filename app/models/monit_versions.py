"""Version counters of what the monit files are made of, kept by database triggers.

Chef polls `GET /chef/monit/<monitor>.conf` with the ETag it holds; the answer must be 304 when nothing the file is
made of changed, without rendering it. Every write to an input column of an input table bumps a counter row here, in
the writer's own transaction, whoever the writer is: the ORM, the sync's set-based upserts and sweeps, a relations
rebuild's UPDATE statements, a hand-typed SQL session. The ETag is derived from these rows (see app/queries/monit.py).

Rows (`part`): `platform` for clusters, regions, watch overrides and internal tools (rare, operator-made changes);
`cluster:<id>` for the apps and domains of one cluster, so the sync's per-cluster jobs, running in parallel, each
bump their own row and never wait for one another's row lock.

A version is `max(version + 1, now in microseconds)`: strictly increasing, and still increasing after the database
is restored from an older backup (a counter would count up again through values Chef already holds, for other data).
UPDATE triggers fire only for the columns the files read, and only when a value really differs, so the sync's
writes of other columns (synced_at, config, limits) leave the versions alone.
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Connection, String, event, inspect
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base

PLATFORM = "platform"

# table -> (which part a row change bumps, the columns the monit files read).
# "platform": the one platform row; "cluster": the row of the row's `cluster_id`; "app": the row of the cluster of the
# row's `app_id`. `id` is listed everywhere: other rows point at it.
INPUTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "apps": ("cluster", ("id", "cluster_id", "name", "health_path", "monitoring_enabled")),
    "domains": ("app", ("id", "app_id", "name")),
    "clusters": ("platform", ("id", "name", "kind", "region_id", "monitored_from_id")),
    "regions": ("platform", ("id", "name")),
    "monitor_watch_overrides": ("platform", ("id", "monitor_id", "cluster_id", "watched")),
    "internal_tools": ("platform", ("id", "name", "url")),
}


class MonitVersion(Base):
    """One counter of the monit files' inputs (written only by the triggers below)."""

    __tablename__ = "monit_versions"

    part: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


# -- SQLite -----------------------------------------------------------------------------------------------------
_SQLITE_NOW = "CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)"
_SQLITE_BUMP = ("ON CONFLICT (part) DO UPDATE SET version = max(monit_versions.version + 1, excluded.version);")


def _sqlite_bumps(kind: str, row: str) -> list[str]:
    if kind == "platform":
        return [f"INSERT INTO monit_versions (part, version) VALUES ('{PLATFORM}', {_SQLITE_NOW}) {_SQLITE_BUMP}"]
    if kind == "cluster":
        return [f"INSERT INTO monit_versions (part, version) VALUES ('cluster:' || {row}.cluster_id, {_SQLITE_NOW}) "
                f"{_SQLITE_BUMP}"]
    # A domain whose app is gone (deleted in the same statement) has nothing left to bump: the app's delete did.
    return [f"INSERT INTO monit_versions (part, version) SELECT 'cluster:' || cluster_id, {_SQLITE_NOW} FROM apps "
            f"WHERE id = {row}.app_id {_SQLITE_BUMP}"]


def _sqlite_ddl() -> list[str]:
    statements = []
    for table, (kind, columns) in INPUTS.items():
        changed = " OR ".join(f"OLD.{column} IS NOT NEW.{column}" for column in columns)
        for event_name, when, rows in (
                ("INSERT", "", ["NEW"]),
                ("DELETE", "", ["OLD"]),
                (f"UPDATE OF {', '.join(columns)}", f" WHEN {changed}", ["NEW", "OLD"])):
            name = f"monit_version_{table}_{event_name.split()[0].lower()}"
            body = " ".join(bump for row in rows for bump in _sqlite_bumps(kind, row))
            statements.append(f"CREATE TRIGGER IF NOT EXISTS {name} AFTER {event_name} ON {table} FOR EACH ROW"
                              f"{when} BEGIN {body} END")
    return statements


# -- PostgreSQL -------------------------------------------------------------------------------------------------
_PG_FUNCTIONS = [
    # Once per transaction and part (a transaction-local setting remembers it; a rolled-back savepoint forgets it
    # with its bump): a reader sees the rows and the new version at the same commit either way, and PostgreSQL
    # would otherwise walk one more dead version of the row per bump, so a 20,000-row INSERT took 14.5 s, not 1.7.
    """CREATE OR REPLACE FUNCTION monit_version_bump(changed text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    marker text := 'monit_versions.p' || md5(changed);
BEGIN
    IF current_setting(marker, true) = 'bumped' THEN
        RETURN;
    END IF;
    PERFORM set_config(marker, 'bumped', true);
    INSERT INTO monit_versions (part, version)
    VALUES (changed, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::bigint)
    ON CONFLICT (part) DO UPDATE SET version = GREATEST(monit_versions.version + 1, EXCLUDED.version);
END
$$""",
    # One trigger function for every input table; TG_ARGV[0] says which part a row of that table bumps.
    # TRUNCATE (statement level, no rows to look at) bumps the platform row: every ETag changes.
    f"""CREATE OR REPLACE FUNCTION monit_version_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'STATEMENT' OR TG_ARGV[0] = 'platform' THEN
        PERFORM monit_version_bump('{PLATFORM}');
    ELSIF TG_ARGV[0] = 'cluster' THEN
        IF TG_OP <> 'DELETE' THEN PERFORM monit_version_bump('cluster:' || NEW.cluster_id); END IF;
        IF TG_OP <> 'INSERT' THEN PERFORM monit_version_bump('cluster:' || OLD.cluster_id); END IF;
    ELSE
        IF TG_OP <> 'DELETE' THEN
            PERFORM monit_version_bump('cluster:' || cluster_id) FROM apps WHERE id = NEW.app_id;
        END IF;
        IF TG_OP <> 'INSERT' THEN
            PERFORM monit_version_bump('cluster:' || cluster_id) FROM apps WHERE id = OLD.app_id;
        END IF;
    END IF;
    RETURN NULL;
END
$$""",
]


def _postgresql_ddl() -> list[str]:
    statements = list(_PG_FUNCTIONS)
    for table, (kind, columns) in INPUTS.items():
        changed = " OR ".join(f"OLD.{column} IS DISTINCT FROM NEW.{column}" for column in columns)
        for suffix, definition in (
                ("rows", f"AFTER INSERT OR DELETE ON {table} FOR EACH ROW"),
                ("update", f"AFTER UPDATE OF {', '.join(columns)} ON {table} FOR EACH ROW WHEN ({changed})"),
                ("truncate", f"AFTER TRUNCATE ON {table} FOR EACH STATEMENT")):
            name = f"monit_version_{table}_{suffix}"
            statements.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            statements.append(f"CREATE TRIGGER {name} {definition} EXECUTE FUNCTION monit_version_changed('{kind}')")
    return statements


def trigger_ddl(dialect: str) -> list[str]:
    """The statements that (re)create the triggers keeping `monit_versions`, for this dialect (idempotent)."""
    if dialect == "postgresql":
        return _postgresql_ddl()
    if dialect == "sqlite":
        return _sqlite_ddl()
    raise NotImplementedError(f"no monit version triggers for {dialect}: the Chef ETags would go stale")


def drop_ddl(dialect: str) -> list[str]:
    """The statements that remove the triggers (and PostgreSQL's functions)."""
    names = [(f"monit_version_{table}_{suffix}", table) for table in INPUTS
             for suffix in (("rows", "update", "truncate") if dialect == "postgresql"
                            else ("insert", "delete", "update"))]
    if dialect == "postgresql":
        return ([f"DROP TRIGGER IF EXISTS {name} ON {table}" for name, table in names]
                + ["DROP FUNCTION IF EXISTS monit_version_changed()", "DROP FUNCTION IF EXISTS monit_version_bump(text)"])
    return [f"DROP TRIGGER IF EXISTS {name}" for name, _ in names]


def _create_triggers(metadata, connection: Connection, **kwargs) -> None:
    # After the whole schema: the triggers sit on tables created in the same run (or before it, by an earlier
    # create_all); a partial schema (create_all of a few tables) gets none.
    present = inspect(connection)
    if not all(present.has_table(table) for table in (MonitVersion.__tablename__, *INPUTS)):
        return
    for statement in trigger_ddl(connection.dialect.name):
        connection.exec_driver_sql(statement)


def _drop_functions(metadata, connection: Connection, **kwargs) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("DROP FUNCTION IF EXISTS monit_version_changed() CASCADE")
        connection.exec_driver_sql("DROP FUNCTION IF EXISTS monit_version_bump(text)")


event.listen(Base.metadata, "after_create", _create_triggers)
event.listen(Base.metadata, "after_drop", _drop_functions)
