"""The developer API against the sandbox's Deis controllers (real users, tokens, sharing and admins), with the apps
synced into the panel; `api_dbapi` adds the live dbapi (real PostgreSQL) whose callbacks reach the live panel."""
from __future__ import annotations

import dataclasses

import pytest
import requests

from app.queries.developer_access import CACHE_PREFIX
from app.queues import redis_connection
from tests.databases.conftest import *  # noqa: F401,F403  (clients, synced, dbapi and the live dbapi fixtures)
from sandbox.faults import REQUESTS_PATH


class DeveloperClient:
    """Calls /api/v1 as one Deis user of one cluster, with their current token (or any token given)."""

    def __init__(self, client, sandbox) -> None:
        self.client, self.sandbox = client, sandbox

    def token(self, user: str, cluster: str = "eu-prod") -> str:
        return self.sandbox.deis[cluster].token_for(user)

    def headers(self, user: str | None = "alice", cluster: str = "eu-prod", token: str | None = None,
                controller: str | None = None) -> dict[str, str]:
        headers = {"X-Deis-Controller": controller or self.sandbox.deis_url(cluster)}
        if token is not None or user is not None:
            headers["Authorization"] = f"token {token or self.token(user, cluster)}"
        return headers

    def get(self, path: str, user: str | None = "alice", **options):
        return self.client.get(f"/api/v1{path}", headers=self._headers(user, options))

    def post(self, path: str, user: str | None = "alice", json=None, **options):
        return self.client.post(f"/api/v1{path}", headers=self._headers(user, options), json=json)

    def _headers(self, user, options) -> dict[str, str]:
        extra = options.pop("headers", None)
        return extra if extra is not None else self.headers(user, **options)


def controller_calls(sandbox, cluster: str = "eu-prod") -> dict[str, int]:
    """What the cluster's simulator served since the last reset, by `METHOD path`."""
    return requests.get(sandbox.deis_url(cluster) + REQUESTS_PATH, timeout=5).json()["by_path"]


def reset_controller_calls(sandbox, cluster: str = "eu-prod") -> None:
    requests.delete(sandbox.deis_url(cluster) + REQUESTS_PATH, timeout=5)


@pytest.fixture
def cache_seconds():
    """DEV_TOKEN_CACHE_SECONDS for the test (override the fixture to change it)."""
    return 60


@pytest.fixture
def api(app, synced, clients, client, sandbox, monkeypatch, cache_seconds) -> DeveloperClient:
    """The panel with the sandbox's apps synced, an empty token cache, and a client speaking as a developer."""
    monkeypatch.setitem(app.config, "SETTINGS", dataclasses.replace(app.config["SETTINGS"],
                                                                    dev_token_cache_seconds=cache_seconds))
    cache = redis_connection()
    for key in cache.scan_iter(f"{CACHE_PREFIX}*"):
        cache.delete(key)
    return DeveloperClient(client, sandbox)


@pytest.fixture
def api_dbapi(api, app, dbapi, dbapi_url, live_server, monkeypatch, dbapi_names) -> DeveloperClient:
    """`api` with the live dbapi: databases get a per-test name prefix; callbacks come back to the live panel."""
    from app.operations import database_provisioning

    monkeypatch.setitem(app.config, "SETTINGS", dataclasses.replace(app.config["SETTINGS"], dbapi_url=dbapi_url,
                                                                    panel_url=live_server))
    prefix = dbapi_names("a") + "_"
    original = database_provisioning.database_name_for
    monkeypatch.setattr(database_provisioning, "database_name_for", lambda app: prefix + original(app))
    return api
