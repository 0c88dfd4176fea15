"""Sync tests run the real synchronizers against the sandbox simulators, on the suite's database and Redis."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from redis import Redis
from sqlalchemy import event

from app.clients import PlatformClients
from app.config import Settings
from app.extensions import db
from app.queues import redis_url
from app.services.deis import DeisClient
from app.sync import runner
from app.sync.locks import redis_locks


@pytest.fixture
def clients(sandbox, settings, monkeypatch) -> PlatformClients:
    environ = {"ADMIN_PANEL_INSTANCE_DIR": str(settings.instance_dir), "DATABASE_URL": settings.database_url,
               **sandbox.env()}
    # The panel never passes AWS keys: boto3 reads them from the process environment, as in production.
    aws_credentials(monkeypatch, environ)
    return PlatformClients(Settings.from_env(environ))


def aws_credentials(monkeypatch, environ: dict[str, str]) -> None:
    """Put the sandbox's AWS keys where boto3's chain finds them, and nothing of this machine's own AWS setup."""
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(variable, environ[variable])


@pytest.fixture
def locks(app):
    return redis_locks(Redis.from_url(redis_url()))


@pytest.fixture
def sync(app, clients, locks):
    """Run a sync (all, or one source/scope) like the job does; returns (runs, failures)."""

    def run(source: str | None = None, scope: str | None = None, **options):
        return runner.run_many(db.session, clients, locks, runner.plan(clients, source, scope), triggered_by="test",
                               **options)

    return run


@pytest.fixture
def data_writes(app):
    """Collects INSERT/UPDATE/DELETE statements that wrote rows of data tables (sync_runs bookkeeping excluded).

    Relation rebuilding always issues its set-based UPDATEs; they count only when they changed a row.
    """
    statements: list[str] = []

    def collect(conn, cursor, statement, parameters, context, executemany):
        verb = statement.lstrip().split(" ", 1)[0].upper()
        if verb not in {"INSERT", "UPDATE", "DELETE"} or "sync_runs" in statement.split("(")[0]:
            return
        if verb == "INSERT" or cursor.rowcount != 0:
            statements.append(f"{statement} -- {cursor.rowcount} rows")

    event.listen(db.engine, "after_cursor_execute", collect)
    yield statements
    event.remove(db.engine, "after_cursor_execute", collect)


# -- Deis under harsh conditions (issue 9) ----------------------------------------------------------------------
@dataclass
class TunedClients(PlatformClients):
    """Sandbox-backed clients whose Deis clients a test adjusts: a smaller page size, `requests` response hooks
    (which act on the simulator between two real HTTP calls, like another operator would)."""

    page_size: int | None = None
    response_hooks: list[Callable[..., Any]] = field(default_factory=list)

    def deis(self, cluster_name: str) -> DeisClient:
        client = super().deis(cluster_name)
        if self.page_size is not None:
            client.page_size = self.page_size
        client.session.hooks["response"].extend(self.response_hooks)
        return client


@pytest.fixture
def deis_clients(sandbox, settings):
    """Build TunedClients from the sandbox's env; `user` puts that scenario user's token in DEIS_CLUSTERS."""

    def build(user: str | None = None, **tuning: Any) -> TunedClients:
        env = sandbox.env()
        if user is not None:
            clusters = json.loads(env["DEIS_CLUSTERS"])
            for cluster in clusters:
                cluster["token"] = sandbox.deis[cluster["name"]].token_for(user)
            env["DEIS_CLUSTERS"] = json.dumps(clusters)
        environ = {"ADMIN_PANEL_INSTANCE_DIR": str(settings.instance_dir), "DATABASE_URL": settings.database_url,
                   **env}
        return TunedClients(Settings.from_env(environ), **tuning)

    return build


@pytest.fixture
def sync_with(app, locks):
    """Run one source/scope with the given clients, like the job does; returns (runs, failures)."""

    def run(clients: PlatformClients, source: str = "deis", scope: str = "eu-prod"):
        return runner.run_many(db.session, clients, locks, runner.plan(clients, source, scope), triggered_by="test")

    return run
