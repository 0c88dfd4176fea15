"""The Databases API: a separate service that creates PostgreSQL databases and keeps encrypted, streamed backups.

`create_app()` builds the HTTP API (apiflask, OpenAPI at /openapi.json) and wires one `Runtime` per app: settings,
the managed servers, the storage backend, Redis and the RQ queue `dbapi`. The web process and the worker
(`python -m dbapi.worker`) build the same app. This package never imports the panel (`app`); they speak HTTP.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apiflask import APIFlask
from flask import current_app
from redis import Redis
from rq import Queue
from sqlalchemy import event

from dbapi.config import Settings
from dbapi.models import db
from dbapi.pgtools import PgServer
from dbapi.schema import create_schema
from dbapi.storage import Storage, storage_from_config

@dataclass
class Runtime:
    """What operations and jobs need besides the database session."""

    settings: Settings
    servers: dict[str, PgServer]  # name -> admin connection (the DSNs never leave dbapi)
    storage: Storage  # local folder or S3
    redis: Redis
    queue: Queue


def runtime() -> Runtime:
    """The current app's wiring (needs an app context)."""
    return current_app.extensions["dbapi"]


def create_app(settings: Settings | None = None) -> APIFlask:
    """Build the Databases API app from `settings` (default: read from the environment)."""
    from dbapi.views import register_views

    settings = settings or Settings.from_env()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = APIFlask("dbapi", title="Databases API", version="1.0", spec_path="/openapi.json", docs_path="/docs")
    app.config.update(
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings.database_url),
    )
    db.init_app(app)
    with app.app_context():
        if settings.database_url.startswith("sqlite"):
            event.listen(db.engine, "connect", _sqlite_pragmas)
        # Web and worker processes start together on a fresh database: creation is serialised across them.
        create_schema(db.engine, db.metadata)
    redis = _redis_connection(settings)
    app.extensions["dbapi"] = Runtime(
        settings=settings,
        servers=_servers(settings),
        storage=_storage(settings),
        redis=redis,
        queue=Queue(settings.queue_name, connection=redis, default_timeout=settings.job_timeout_seconds),
    )
    register_views(app)
    return app


def _redis_connection(settings: Settings) -> Redis:
    if settings.redis_url:
        return Redis.from_url(settings.redis_url)
    from dbapi.embedded import embedded_redis_url  # development only: a real redis-server from a wheel

    return Redis.from_url(embedded_redis_url(settings.data_dir))


def _servers(settings: Settings) -> dict[str, PgServer]:
    if settings.servers is not None:
        return dict(settings.servers)
    from dbapi.embedded import start_embedded_postgres  # development only: a real PostgreSQL from a wheel

    server = start_embedded_postgres(settings.data_dir)
    return {server.name: server}


def _storage(settings: Settings) -> Storage:
    return storage_from_config(settings.storage_url, settings.data_dir, endpoint_url=settings.s3_endpoint_url)


def _engine_options(database_url: str) -> dict[str, Any]:
    if database_url.startswith("sqlite"):
        # The web server, the worker and their threads share the file: wait for locks instead of failing.
        return {"connect_args": {"timeout": 30}}
    return {"pool_pre_ping": True}


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # WAL lets readers (GET /operations while a job writes progress) proceed during writes.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
