"""Panel-side database tests: the panel (its callback receiver served over real HTTP), the sandbox's Deis, and a
real dbapi (web + RQ worker thread, real PostgreSQL with pg_dump/pg_restore) from tests/dbapi/conftest.py."""
from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from app.clients import PlatformClients
from app.config import Settings
from app.extensions import db
from app.models import App, Operation
from app.services.databases_api import CALLBACK_PATH, DatabasesApi
from tests.dbapi.conftest import *  # noqa: F401,F403  (the live dbapi fixtures: dbapi_url, dbapi_worker, dbapi_pg...)
from tests.dbapi.conftest import DBAPI_CALLBACK_SECRET, DBAPI_SERVER_NAME, DBAPI_SERVICE_KEY
from tests.sync.conftest import aws_credentials, locks, sync  # noqa: F401  (the real synchronizer)


@pytest.fixture
def clients(sandbox, settings, app, monkeypatch) -> PlatformClients:
    """Sandbox-backed clients whose clusters keep their databases on the test dbapi's server `main`; the panel app
    uses the same settings (so its callback receiver checks the test dbapi's secret and writes to the sandbox)."""
    env = sandbox.env()
    clusters = json.loads(env["DEIS_CLUSTERS"])
    for cluster in clusters:
        cluster["database_server"] = DBAPI_SERVER_NAME
    env["DEIS_CLUSTERS"] = json.dumps(clusters)
    environ = {"ADMIN_PANEL_INSTANCE_DIR": str(settings.instance_dir), "DATABASE_URL": settings.database_url,
               "DBAPI_SERVICE_KEY": DBAPI_SERVICE_KEY, "DBAPI_CALLBACK_SECRET": DBAPI_CALLBACK_SECRET, **env}
    aws_credentials(monkeypatch, environ)
    panel_settings = Settings.from_env(environ)
    monkeypatch.setitem(app.config, "SETTINGS", panel_settings)
    return PlatformClients(panel_settings)


@pytest.fixture
def dbapi(dbapi_url, dbapi_worker, live_server) -> DatabasesApi:
    """The panel's client of the live dbapi; callbacks come back to the live panel's /dbapi/callbacks."""
    return DatabasesApi(dbapi_url, DBAPI_SERVICE_KEY, live_server + CALLBACK_PATH)


@pytest.fixture
def synced(sync, clients, db_session):  # noqa: F811
    """The test scenario synced from every source (apps, instances with db roles, DNS records)."""
    runs, failures = sync()
    assert not failures, failures
    return db_session


def app_named(name: str) -> App:
    return db.session.scalars(select(App).where(App.name == name)).one()


def wait_finished(operation: Operation, timeout: float = 120) -> Operation:
    """Wait until the callback ended the operation (state read fresh from the database)."""
    deadline = time.monotonic() + timeout
    while True:
        db.session.expire_all()
        current = db.session.get(Operation, operation.id)
        if current.state in ("succeeded", "failed"):
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"operation {current.kind} still {current.state}: {current.progress_message}")
        time.sleep(0.2)
