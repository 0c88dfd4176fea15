"""Operations tests on the demo scenario (eu-prod, eu-staging behind their own load balancers), every source synced
into the panel, with sandbox-backed clients built after the reseed (the cluster list differs per scenario)."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from redis import Redis

from app.clients import PlatformClients
from app.config import Settings
from app.extensions import db
from app.queues import redis_url
from app.sync import runner
from app.sync.locks import redis_locks
from sandbox.platform import Sandbox
from sandbox.scenario import load
from tests.sync.conftest import aws_credentials


@dataclass
class Demo:
    sandbox: Sandbox
    clients: PlatformClients

    def sync(self, source: str | None = None) -> None:
        """Synchronise like the job does; every run must succeed."""
        locks = redis_locks(Redis.from_url(redis_url()))
        _, failures = runner.run_many(db.session, self.clients, locks, runner.plan(self.clients, source, None),
                                      triggered_by="test", allow_mass_delete=True)
        assert failures == [], failures

    def records(self, zone: str) -> list[dict]:
        return self.sandbox.cloudflare.records(zone)


@pytest.fixture(scope="session")
def demo_scenario():
    return load("demo")


@pytest.fixture
def demo(app, settings, sandbox_session, demo_scenario, monkeypatch) -> Demo:
    if sandbox_session.scenario is not demo_scenario:
        sandbox_session.reseed(demo_scenario)
    else:
        sandbox_session.reset()
    environ = {"ADMIN_PANEL_INSTANCE_DIR": str(settings.instance_dir), "DATABASE_URL": settings.database_url,
               **sandbox_session.env()}
    aws_credentials(monkeypatch, environ)
    world = Demo(sandbox_session, PlatformClients(Settings.from_env(environ)))
    world.sync()
    return world
