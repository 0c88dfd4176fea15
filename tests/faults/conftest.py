"""The fault campaign's world: the demo platform in the sandbox, a live panel and a live dbapi, each behind a
`FaultInjector`, and the knobs (`FAULT_ROUNDS`, `FAULT_SEED`) that make a campaign bounded and reproducible.

Faults sit on every hop the panel does not own: the Deis controllers and Cloudflare (the sandbox's own injectors),
the Databases API (its real app wrapped in the same middleware) and the callbacks dbapi sends back to the panel.
"""
from __future__ import annotations

import json
import os
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from werkzeug.serving import make_server

from app.clients import PlatformClients
from app.config import Settings
from app.services.databases_api import DatabasesApi
from sandbox.faults import FaultInjector
from sandbox.platform import Sandbox
from sandbox.scenario import load
from tests.dbapi.conftest import *  # noqa: F401,F403  (the live dbapi fixtures: dbapi_app, dbapi_worker, dbapi_pg...)
from tests.dbapi.conftest import DBAPI_CALLBACK_SECRET, DBAPI_SERVER_NAME, DBAPI_SERVICE_KEY
from tests.notify_receivers import webhook  # noqa: F401  (a real loopback webhook receiver)
from tests.sync.conftest import aws_credentials

DEFAULT_ROUNDS = 2  # `make test`; `make test-long` sets FAULT_ROUNDS higher


def rounds() -> int:
    return max(1, int(os.environ.get("FAULT_ROUNDS", DEFAULT_ROUNDS)))


@pytest.fixture
def campaign_seed() -> int:
    """FAULT_SEED, else a fresh one; printed so a failing campaign can be replayed exactly."""
    seed = int(os.environ.get("FAULT_SEED") or random.SystemRandom().randrange(1, 2**31))
    print(f"\nfault campaign seed: FAULT_SEED={seed}")
    return seed


class Served:
    """A WSGI app behind a FaultInjector on a free loopback port."""

    def __init__(self, wsgi_app, name: str) -> None:
        self.faults = FaultInjector(wsgi_app, name)
        self.server = make_server("127.0.0.1", 0, self.faults, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


@pytest.fixture
def faulty_dbapi(dbapi_app, dbapi_worker) -> Iterator[Served]:
    served = Served(dbapi_app, "dbapi")
    yield served
    served.stop()


@pytest.fixture
def faulty_panel(app) -> Iterator[Served]:
    """The panel over real HTTP; dbapi's callbacks come in through this injector."""
    served = Served(app, "panel")
    yield served
    served.stop()


@dataclass
class World:
    sandbox: Sandbox
    clients: PlatformClients
    dbapi: DatabasesApi
    dbapi_front: Served
    panel_front: Served
    injectors: dict[str, FaultInjector] = field(default_factory=dict)


@pytest.fixture(scope="session")
def demo_platform():
    return load("demo")


@pytest.fixture
def world(app, settings, sandbox_session, demo_platform, faulty_dbapi, faulty_panel, webhook,  # noqa: F811
          monkeypatch) -> World:
    """The demo platform (eu-prod's databases on the test dbapi server), the panel's settings pointing at the
    fault-injected dbapi and the webhook receiver, installed on the app so jobs and the callback receiver use them."""
    if sandbox_session.scenario is not demo_platform:
        sandbox_session.reseed(demo_platform)
    else:
        sandbox_session.reset()
    env = sandbox_session.env()
    clusters = json.loads(env["DEIS_CLUSTERS"])
    for cluster in clusters:
        cluster["database_server"] = DBAPI_SERVER_NAME
    env["DEIS_CLUSTERS"] = json.dumps(clusters)
    environ = {"ADMIN_PANEL_INSTANCE_DIR": str(settings.instance_dir), "DATABASE_URL": settings.database_url,
               "DBAPI_URL": faulty_dbapi.url, "PANEL_URL": faulty_panel.url, "DBAPI_SERVICE_KEY": DBAPI_SERVICE_KEY,
               "DBAPI_CALLBACK_SECRET": DBAPI_CALLBACK_SECRET, "ALERT_WEBHOOK_URLS": webhook.url, **env}
    aws_credentials(monkeypatch, environ)
    panel_settings = Settings.from_env(environ)
    monkeypatch.setitem(app.config, "SETTINGS", panel_settings)
    clients = PlatformClients(panel_settings)
    injectors = {"cloudflare": sandbox_session.cloudflare.faults, "dbapi": faulty_dbapi.faults,
                 "panel-callbacks": faulty_panel.faults}
    injectors.update({f"deis:{name}": simulator.faults for name, simulator in sandbox_session.deis.items()})
    yield World(sandbox_session, clients, clients.databases_api(), faulty_dbapi, faulty_panel, injectors)
    for injector in injectors.values():
        injector.clear()
