"""Callbacks go only where DBAPI_CALLBACK_HOSTS allows, never to link-local or cloud metadata addresses."""
from __future__ import annotations

import dataclasses

import pytest

from dbapi.callback_hosts import CallbackRefused, CallbackUnresolvable, check_callback_url
from dbapi.config import ConfigError, Settings
from tests.dbapi.test_api import counts
from tests.dbapi.test_operations import create_database

ATTACKER = "http://evil.example/collect"
METADATA = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"


def queued(dbapi_app) -> int:
    return dbapi_app.extensions["dbapi"].queue.count


@pytest.fixture
def ready(dbapi_client, callback_receiver, dbapi_names) -> dict:
    return create_database(dbapi_client, callback_receiver, dbapi_names("hooked"))


def requests_naming(callback_url: str, ready: dict, dbapi_names) -> list[tuple[str, str, dict]]:
    """Every request that takes a callback URL."""
    database_id = ready["database"]["id"]
    return [
        ("POST", "/databases", {"name": dbapi_names("never"), "server": "main", "callback_url": callback_url}),
        ("DELETE", f"/databases/{database_id}", {"callback_url": callback_url}),
        ("POST", f"/databases/{database_id}/backups", {"callback_url": callback_url}),
        ("POST", f"/databases/{database_id}/restore",
         {"backup_id": "00000000-0000-4000-8000-000000000000", "callback_url": callback_url}),
        ("POST", "/tokens", {"action": "upload", "database_id": database_id, "callback_url": callback_url}),
    ]


@pytest.mark.parametrize("callback_url", [ATTACKER, METADATA, "http://2852039166/", "http://localhost:1/cb"])
def test_a_callback_to_an_unlisted_host_is_422_and_nothing_runs(
    dbapi_app, dbapi_client, callback_receiver, dbapi_names, ready, callback_url
):
    before = counts(dbapi_app), queued(dbapi_app)
    for method, path, body in requests_naming(callback_url, ready, dbapi_names):
        response = dbapi_client.call(method, path, json=body)
        assert response.status_code == 422, (path, response.text)
        [reason] = response.json()["detail"]["json"]["callback_url"]
        assert "is not allowed (DBAPI_CALLBACK_HOSTS: 127.0.0.1)" in reason
    assert (counts(dbapi_app), queued(dbapi_app)) == before
    assert dbapi_client.call("GET", f"/databases/{ready['database']['id']}").json()["state"] == "ready"


def test_link_local_and_metadata_addresses_are_refused_even_when_listed(
    dbapi_app, dbapi_client, ready, dbapi_names, monkeypatch
):
    context = dbapi_app.extensions["dbapi"]
    monkeypatch.setattr(context, "settings", dataclasses.replace(
        context.settings, callback_hosts=("127.0.0.1", "169.254.169.254", "169.254.10.1")
    ))
    before = counts(dbapi_app), queued(dbapi_app)
    for url in (METADATA, "http://169.254.10.1:8080/cb"):
        for method, path, body in requests_naming(url, ready, dbapi_names):
            response = dbapi_client.call(method, path, json=body)
            assert response.status_code == 422, (path, response.text)
            assert "a link-local or cloud metadata address" in response.json()["detail"]["json"]["callback_url"][0]
    assert (counts(dbapi_app), queued(dbapi_app)) == before


def test_the_host_is_checked_again_when_the_callback_is_sent(
    dbapi_app, dbapi_client, dbapi_worker, callback_receiver, dbapi_names, monkeypatch
):
    """Accepted while allowed; by the time the result is sent the host is no longer listed: nothing is sent."""
    dbapi_worker.pause()
    try:
        response = dbapi_client.call("POST", "/databases", json={
            "name": dbapi_names("later"), "server": "main", "callback_url": callback_receiver.url,
        })
        assert response.status_code == 202
        context = dbapi_app.extensions["dbapi"]
        monkeypatch.setattr(context, "settings", dataclasses.replace(context.settings, callback_hosts=("panel.example",)))
    finally:
        dbapi_worker.resume()
    operation = dbapi_client.wait(response.json()["operation"]["id"])
    assert operation["state"] == "succeeded"
    assert operation["callback"]["state"] == "abandoned"
    assert operation["callback"]["last_error"].startswith("refused: callback host '127.0.0.1' is not allowed")
    assert callback_receiver.requests == []  # and the password it carried went nowhere


def resolver(table: dict[str, list[str]]):
    """A resolver answering from `table`: there is no DNS server in the tests whose answers we control (the
    real resolver is what the HTTP tests above use, with IP literals)."""
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise CallbackUnresolvable(f"callback host {host!r} does not resolve")
        return table[host]
    return resolve


DNS = resolver({
    "panel.example.com": ["203.0.113.10"],
    "hooks.example.com": ["10.0.0.5"],
    "rebound.example.com": ["203.0.113.11", "169.254.169.254"],
    "mapped.example.com": ["::ffff:169.254.169.254"],
    "v6.example.com": ["fe80::1%eth0"],
    "aws6.example.com": ["fd00:ec2::254"],
    "panel.internal": ["10.0.0.8"],
    "local.example.com": ["127.0.0.1"],
})


@pytest.mark.parametrize(
    ("url", "allowed", "production", "refusal"),
    [
        ("https://panel.example.com/cb", ("panel.example.com",), True, None),
        ("http://panel.example.com/cb", ("panel.example.com",), True, "callbacks must use https in production"),
        ("https://other.example.com/cb", ("panel.example.com",), True, "is not allowed"),
        ("https://panel.example.com.evil.net/cb", ("panel.example.com",), True, "is not allowed"),
        ("https://hooks.example.com/cb", ("*.example.com",), True, "a loopback or private address"),
        ("https://hooks.example.com/cb", ("hooks.example.com",), True, None),  # listed exactly: private is fine
        ("https://panel.internal/cb", ("panel.internal",), True, None),
        ("https://local.example.com/cb", ("*.example.com",), True, "a loopback or private address"),
        ("http://local.example.com/cb", (), False, None),  # development: loopback is fine
        ("https://rebound.example.com/cb", ("rebound.example.com",), True, "link-local or cloud metadata"),
        ("https://rebound.example.com/cb", (), False, "link-local or cloud metadata"),
        ("https://mapped.example.com/cb", ("mapped.example.com",), False, "link-local or cloud metadata"),
        ("https://v6.example.com/cb", ("v6.example.com",), False, "link-local or cloud metadata"),
        ("https://aws6.example.com/cb", ("aws6.example.com",), False, "link-local or cloud metadata"),
        ("https://nowhere.example.com/cb", ("*.example.com",), True, "does not resolve"),
    ],
)
def test_callback_host_rules(url, allowed, production, refusal):
    if refusal is None:
        check_callback_url(url, allowed=allowed, production=production, resolver=DNS)
        return
    with pytest.raises(CallbackRefused, match=refusal):
        check_callback_url(url, allowed=allowed, production=production, resolver=DNS)


def test_production_requires_callback_hosts_and_checks_them(tmp_path):
    with pytest.raises(ConfigError, match="DBAPI_CALLBACK_HOSTS must list the hosts"):
        Settings.from_env({"DBAPI_ENV": "production", "DBAPI_DATA_DIR": str(tmp_path)})
    with pytest.raises(ConfigError, match=r"DBAPI_CALLBACK_HOSTS: 'panel example' is not a host name"):
        Settings.from_env({"DBAPI_DATA_DIR": str(tmp_path), "DBAPI_CALLBACK_HOSTS": "ok.example,panel example"})
    settings = Settings.from_env({"DBAPI_DATA_DIR": str(tmp_path), "DBAPI_CALLBACK_HOSTS": " Panel.Example.com., *.hooks.example "})
    assert settings.callback_hosts == ("panel.example.com", "*.hooks.example")
