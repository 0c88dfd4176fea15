import hashlib
import logging
from contextlib import nullcontext
from logging.config import fileConfig
from pathlib import Path

from flask import current_app
from sqlalchemy import text

from app.models.base import trigram_available
from migrations.sqlite_rebuild import foreign_keys_enforced, set_foreign_keys

from alembic import context

# this is the Alembic Config object, which provides
# access to the values within the .ini file in use.
config = context.config

# Interpret the config file for Python logging.
# This line sets up loggers basically.
fileConfig(config.config_file_name)
logger = logging.getLogger('alembic.env')


def get_engine():
    try:
        # this works with Flask-SQLAlchemy<3 and Alchemical
        return current_app.extensions['migrate'].db.get_engine()
    except (TypeError, AttributeError):
        # this works with Flask-SQLAlchemy>=3
        return current_app.extensions['migrate'].db.engine


def get_engine_url():
    try:
        return get_engine().url.render_as_string(hide_password=False).replace(
            '%', '%%')
    except AttributeError:
        return str(get_engine().url).replace('%', '%%')


# add your model's MetaData object here
# for 'autogenerate' support
# from myapp import mymodel
# target_metadata = mymodel.Base.metadata
config.set_main_option('sqlalchemy.url', get_engine_url())
target_db = current_app.extensions['migrate'].db

# other values from the config, defined by the needs of env.py,
# can be acquired:
# my_important_option = config.get_main_option("my_important_option")
# ... etc.


def get_metadata():
    if hasattr(target_db, 'metadatas'):
        return target_db.metadatas[None]
    return target_db.metadata


def run_migrations_offline():
    """Run migrations in 'offline' mode.

    This configures the context with just a URL
    and not an Engine, though an Engine is acceptable
    here as well.  By skipping the Engine creation
    we don't even need a DBAPI to be available.

    Calls to context.execute() here emit the given string to the
    script output.

    """
    url = config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url, target_metadata=get_metadata(), literal_binds=True
    )

    with context.begin_transaction():
        context.run_migrations()


# Upgrades started together (a release step on every machine, an init container per replica) take turns: on
# PostgreSQL under a transaction-level advisory lock taken before Alembic reads the current revision (its DDL is
# transactional, so the next one sees the committed revision and has nothing left to do); on a SQLite file under a
# file lock next to it (localredis's flock helper; released by the kernel if its holder dies).
SCHEMA_LOCK_KEY = int.from_bytes(hashlib.sha256(b"admin-panel.schema").digest()[:8], "big", signed=True)


def sqlite_file_lock(engine):
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return nullcontext()
    import localredis  # its flock helper only: no server is started

    path = Path(database).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return localredis.locked(path.parent, path.name + ".schema.lock")


def run_migrations_online():
    """Run migrations in 'online' mode.

    In this scenario we need to create an Engine
    and associate a connection with the context.

    """

    # this callback is used to prevent an auto-migration from being generated
    # when there are no changes to the schema
    # reference: http://alembic.zzzcomputing.com/en/latest/cookbook.html
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, 'autogenerate', False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info('No changes in schema detected.')

    conf_args = current_app.extensions['migrate'].configure_args

    trigram: list[bool] = []

    def include_object(obj, name, type_, reflected, compare_to):
        # pg_trgm search indexes exist only where the extension does (see app.models.base.trigram_index).
        if type_ == "index" and name and name.endswith("_trgm"):
            if not trigram:
                with connectable.connect() as probe:
                    trigram.append(trigram_available(probe))
            return trigram[0]
        return True

    conf_args.setdefault("include_object", include_object)
    if conf_args.get("process_revision_directives") is None:
        conf_args["process_revision_directives"] = process_revision_directives

    connectable = get_engine()

    with sqlite_file_lock(connectable), connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=get_metadata(),
            **conf_args
        )
        # SQLite changes most tables by rebuilding them (copy, drop the old one, rename). With foreign keys
        # enforced, as the panel's connections have them, dropping the old copy deletes or unlinks every row that
        # references it (ON DELETE CASCADE / SET NULL), or fails outright. So every SQLite migration runs with the
        # check off, and the whole database is checked before the check goes back on.
        sqlite = connection.dialect.name == "sqlite"
        driver = connection.connection.dbapi_connection if sqlite else None
        enforced = sqlite and foreign_keys_enforced(driver)
        if enforced:
            set_foreign_keys(driver, False)
        try:
            with context.begin_transaction():
                if connection.dialect.name == "postgresql":
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
                context.run_migrations()
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"the migrations broke references: {broken[:5]}")
        finally:
            if enforced:
                set_foreign_keys(driver, True)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
