"""Security headers on every dbapi answer, and the documentation behind the service key in production."""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import re

import pytest

from tests.dbapi.conftest import DBAPI_SERVICE_KEY

SERVICE = {"Authorization": f"Bearer {DBAPI_SERVICE_KEY}"}


def assert_security_headers(response, *, production: bool = False) -> None:
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    if production:
        assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    else:
        assert "Strict-Transport-Security" not in headers


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    [
        ("GET", "/servers", SERVICE, None, 200),
        ("GET", "/servers", {"Authorization": None}, None, 401),  # None drops the session's key
        ("GET", "/no/such/page", SERVICE, None, 404),
        ("POST", "/databases", SERVICE, {"name": "Bad Name"}, 422),
        ("POST", "/databases", {**SERVICE, "Content-Type": "application/json"}, "{not json", 400),
        ("DELETE", "/servers", SERVICE, None, 405),
        ("GET", "/backups/x/download", {"Authorization": "Bearer forged"}, None, 401),
        ("GET", "/openapi.json", {}, None, 200),
    ],
)
def test_every_answer_carries_the_security_headers(dbapi_client, method, path, headers, body, status):
    kwargs = {"data": body} if isinstance(body, str) else {"json": body}
    response = dbapi_client.http.request(method, dbapi_client.base_url + path, headers=headers, timeout=10, **kwargs)
    assert response.status_code == status
    assert_security_headers(response)
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_docs_page_policy_allows_exactly_what_the_page_loads(dbapi_client):
    response = dbapi_client.http.get(dbapi_client.base_url + "/docs", timeout=10)
    assert response.status_code == 200
    assert_security_headers(response)
    policy = dict(
        (directive.split(" ", 1) + [""])[:2] for directive in response.headers["Content-Security-Policy"].split("; ")
    )
    page = response.content
    inline = re.findall(rb"<script>(.*?)</script>", page, re.DOTALL)
    external = re.findall(rb'<script src="([^"]+)"', page)
    stylesheets = re.findall(rb'<link rel="stylesheet" type="text/css" href="([^"]+)"', page)
    assert inline and len(external) == 2 and len(stylesheets) == 1
    for script in inline:
        assert f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'" in policy["script-src"]
    for source in external:
        assert source.decode() in policy["script-src"].split()
    assert stylesheets[0].decode() in policy["style-src"].split()
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
    assert policy["connect-src"] == "'self'"  # the page fetches /openapi.json from here and nothing else
    assert policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'none'"


@pytest.fixture
def production_app(dbapi_environ, tmp_path):
    """The session's configuration with DBAPI_ENV=production (its own state and queue; nothing is queued)."""
    from dbapi import create_app
    from dbapi.config import Settings

    settings = Settings.from_env({**dbapi_environ, "DBAPI_DATA_DIR": str(tmp_path),
                                  "DBAPI_QUEUE": dbapi_environ["DBAPI_QUEUE"] + "-production"})

    def make(**changes):
        return create_app(dataclasses.replace(settings, env="production", **changes))

    return make


@pytest.mark.parametrize("path", ["/docs", "/openapi.json"])
def test_documentation_needs_the_service_key_in_production(production_app, path):
    client = production_app().test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {DBAPI_SERVICE_KEY}"}):
        refused = client.get(path, headers=headers)
        assert refused.status_code == 401
        assert "DBAPI_PUBLIC_DOCS=1" in refused.get_json()["message"]
        assert b"Databases API" not in refused.data and b"/databases" not in refused.data
        assert_security_headers(refused, production=True)
    allowed = client.get(path, headers=SERVICE)
    assert allowed.status_code == 200
    assert_security_headers(allowed, production=True)


@pytest.mark.parametrize("path", ["/docs", "/openapi.json"])
def test_public_docs_setting_opens_the_documentation(production_app, path):
    response = production_app(public_docs=True).test_client().get(path)
    assert response.status_code == 200
    assert_security_headers(response, production=True)


def test_production_answers_carry_hsts(production_app):
    client = production_app().test_client()
    for response in (client.get("/servers", headers=SERVICE), client.get("/servers"), client.get("/nowhere")):
        assert_security_headers(response, production=True)


def test_public_docs_is_read_from_the_environment(tmp_path):
    from dbapi.config import Settings

    assert Settings.from_env({"DBAPI_DATA_DIR": str(tmp_path), "DBAPI_PUBLIC_DOCS": "1"}).public_docs is True
    assert Settings.from_env({"DBAPI_DATA_DIR": str(tmp_path)}).public_docs is False
