"""The whole stack `deis-db` talks to, for real: the panel's /api/v1 over loopback HTTP, the sandbox's Deis
controllers (which sign developers in), a live dbapi with its RQ worker and a real PostgreSQL.

Import with `from tests.cli.developer_panel import *` in a test module. eu-prod keeps its databases on dbapi's
server `main`; us-prod on `limited`, a role PostgreSQL does not let create databases, so a database created there
fails for real (the "failed operation" of the exit-code tests).
"""
from __future__ import annotations

import json
import os
import stat
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from app.clients import PlatformClients
from app.config import Settings
from app.extensions import db
from app.models import Database
from tests.cli.conftest import write_profile
from tests.databases.conftest import *  # noqa: F401,F403  (the live dbapi + worker, the synced scenario)
from tests.databases.conftest import DBAPI_CALLBACK_SECRET, DBAPI_SERVER_NAME, DBAPI_SERVICE_KEY
from tests.sync.conftest import aws_credentials

# The Deis CLI's plugin dispatch (workflow-cli deis.go, the `default:` branch), as a stand-in `deis` on PATH: a
# command `foo:bar` with no built-in `foo` execs `deis-foo` from $PATH with argv ["deis-foo", "bar", ...], after
# removing -c/--config (which therefore never reaches a plugin), with the environment unchanged.
STAND_IN_DEIS = '''#!{python}
import os, shutil, sys

argv = sys.argv[1:]
if not argv:
    sys.exit("Usage: deis <command> [<args>...]")
config = [i for i, arg in enumerate(argv) if arg == "-c" or arg.startswith("--config=")]
argv = [arg for i, arg in enumerate(argv) if i not in config and not (i > 0 and argv[i - 1] == "-c")]
command = argv[0].split(":", 1)[0]
binary = shutil.which("deis-" + command)
if binary is None:
    sys.exit("Error: unknown command " + command)
if argv[0].startswith(command + ":"):
    argv[0] = argv[0][len(command) + 1:]
os.execv(binary, ["deis-" + command, *argv])
'''


@dataclass
class DeveloperPanel:
    url: str
    controllers: dict[str, str]  # cluster -> controller URL

    def login(self, cluster: str, username: str) -> str:
        """`deis login`: the token the controller hands out for that user's password."""
        response = requests.post(f"{self.controllers[cluster]}/v2/auth/login/",
                                 json={"username": username, "password": f"{username}-password"}, timeout=10)
        response.raise_for_status()
        return response.json()["token"]

    def regenerate_token(self, cluster: str, token: str) -> str:
        """`deis auth:regenerate`: the old token stops working at the controller."""
        response = requests.post(f"{self.controllers[cluster]}/v2/auth/tokens/", json={},
                                 headers={"Authorization": f"token {token}"}, timeout=10)
        response.raise_for_status()
        return response.json()["token"]

    def sign_in(self, home: Path, username: str, cluster: str = "eu-prod", profile: str = "client",
                token: str | None = None) -> str:
        """Write ~/.deis/<profile>.json as `deis login` would, plus the panel's URL; returns the token."""
        token = token or self.login(cluster, username)
        write_profile(home, profile, username=username, ssl_verify=True, controller=self.controllers[cluster],
                      token=token, admin_panel_url=self.url)
        return token


@pytest.fixture
def clients(sandbox, settings, app, monkeypatch, dbapi_url, live_server) -> PlatformClients:
    """Overrides tests.databases' `clients`: the panel's settings also name the live dbapi (DBAPI_URL) and itself
    (PANEL_URL, where dbapi calls back), and trust a developer's token no longer than one request."""
    env = sandbox.env()
    clusters = json.loads(env["DEIS_CLUSTERS"])
    for cluster in clusters:
        cluster["database_server"] = "limited" if cluster["name"] == "us-prod" else DBAPI_SERVER_NAME
    env["DEIS_CLUSTERS"] = json.dumps(clusters)
    environ = {"ADMIN_PANEL_INSTANCE_DIR": str(settings.instance_dir), "DATABASE_URL": settings.database_url,
               "DBAPI_SERVICE_KEY": DBAPI_SERVICE_KEY, "DBAPI_CALLBACK_SECRET": DBAPI_CALLBACK_SECRET,
               "DBAPI_URL": dbapi_url, "PANEL_URL": live_server, "DEV_TOKEN_CACHE_SECONDS": "0", **env}
    if settings.redis_url:
        environ["REDIS_URL"] = settings.redis_url
    aws_credentials(monkeypatch, environ)
    panel_settings = Settings.from_env(environ)
    monkeypatch.setitem(app.config, "SETTINGS", panel_settings)
    return PlatformClients(panel_settings)


@pytest.fixture
def developer_panel(synced, clients, dbapi, sandbox, live_server) -> DeveloperPanel:
    yield DeveloperPanel(url=live_server, controllers={name: sandbox.deis_url(name) for name in sandbox.deis})
    # Databases made through the API carry no test prefix and dbapi (one per session) remembers their names: drop
    # each through dbapi itself, so the next test can create a database of the same name again.
    db.session.rollback()
    dropping = [dbapi.drop_database(database.dbapi_id, request_id=str(uuid.uuid4()))
                for database in db.session.scalars(select(Database)) if database.dbapi_id]
    deadline = time.monotonic() + 120
    for operation in dropping:
        while dbapi.operation(operation.id).state not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, f"dbapi did not drop a test database: {operation}"
            time.sleep(0.2)


@pytest.fixture
def stand_in_deis(tmp_path) -> Path:
    """A `deis` executable that dispatches plugins like the Deis CLI (see STAND_IN_DEIS)."""
    folder = tmp_path / "deis-cli"
    folder.mkdir()
    script = folder / "deis"
    script.write_text(STAND_IN_DEIS.format(python=sys.executable))
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


def path_with(folder: Path) -> dict[str, str]:
    """PATH with `folder` first, then the venv's bin (where deis-db is), then the rest."""
    return {"PATH": os.pathsep.join([str(folder), str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
