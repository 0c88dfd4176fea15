"""Contract tests for the Deis Workflow controller simulator, through a real HTTP server and a `requests` client.

Each test proves one behaviour listed in ../shared/reference/deis-workflow.md (or the v2.3 API document): if the
simulator drifted kinder than the real controller, the panel's Deis client could pass here and fail in production.
The fixtures are local to this module (named deis_*) so they cannot clash with the session-wide sandbox plugin.
"""
from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from sandbox.certs import ca_certificate_pem, make_certificate
from sandbox.deis import DeisSimulator
from sandbox.scenario import Scenario, ScenarioError, parse

DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ALICE_APPS = 120  # more than one default page (100) of apps visible to a plain user
CAROL_APPS = 110


def deis_document() -> dict[str, Any]:
    """A small scenario: two clusters, an admin panel user, a second admin, two plain users, 230+ apps on c1."""
    apps: list[dict[str, Any]] = [
        {
            "name": "shop",
            "cluster": "c1",
            "owner": "alice",
            "app_type": "web",
            "shared_with": ["carol"],
            "structure": {"web": 2, "worker": 1},
            "config": {"DATABASE_URL": "postgres://db/shop", "PLATFORM": "deis"},
            "memory": {"web": "256M", "worker": "128M/256M"},
            "cpu": {"web": "500m"},
            "domains": ["shop.example.com", "www.shop.example.com"],
        },
        {"name": "blog", "cluster": "c1", "owner": "carol", "app_type": "worker", "maintenance": True},
        {"name": "shop", "cluster": "c2", "owner": "carol"},  # same name on another cluster
    ]
    apps += [{"name": f"alice-{n:03d}", "cluster": "c1", "owner": "alice"} for n in range(ALICE_APPS)]
    apps += [{"name": f"carol-{n:03d}", "cluster": "c1", "owner": "carol"} for n in range(CAROL_APPS)]
    return {
        "name": "deis-contract",
        "panel_user": {"username": "panel", "password": "panel-pw", "tokens": {"c1": "panel-token-c1"}},
        "regions": [
            {
                "name": "eu",
                "aws_region": "eu-west-1",
                "timezone": "Europe/Paris",
                "clusters": [{"name": "c1"}, {"name": "c2", "kind": "staging"}],
            }
        ],
        "users": [
            {"username": "alice", "password": "alice-pw"},
            {"username": "bob", "password": "bob-pw", "admin": True},
            {"username": "carol", "password": "carol-pw"},
        ],
        "apps": apps,
        "certificates": [
            {
                "name": "shop-cert",
                "cluster": "c1",
                "common_name": "shop.example.com",
                "sans": ["shop.example.com", "www.shop.example.com"],
                "starts_days_ago": 80,
                "expires_in_days": 10,
                "domains": ["shop.example.com"],
            },
            {"name": "bob-cert", "cluster": "c1", "common_name": "bob.example.com", "owner": "bob"},
            {"name": "other-cluster", "cluster": "c2", "common_name": "c2.example.com"},
        ],
    }


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Keep the test output readable; the request line is not what these tests look at."""


class DeisEndpoint:
    """A running simulator: base URL plus helpers that send requests as a given scenario user."""

    def __init__(self, simulator: DeisSimulator, server: BaseWSGIServer) -> None:
        self.simulator = simulator
        self.base = f"http://127.0.0.1:{server.server_port}"

    def headers(self, user: str | None) -> dict[str, str]:
        return {"Authorization": f"token {self.simulator.token_for(user)}"} if user else {}

    def call(self, method: str, path: str, user: str | None = None, **kwargs: Any) -> requests.Response:
        url = path if path.startswith("http") else self.base + path
        headers = {**self.headers(user), **kwargs.pop("headers", {})}
        return requests.request(method, url, headers=headers, timeout=10, allow_redirects=False, **kwargs)

    def get(self, path: str, user: str | None = None, **kwargs: Any) -> requests.Response:
        return self.call("GET", path, user, **kwargs)

    def post(self, path: str, user: str | None = None, **kwargs: Any) -> requests.Response:
        return self.call("POST", path, user, **kwargs)

    def delete(self, path: str, user: str | None = None, **kwargs: Any) -> requests.Response:
        return self.call("DELETE", path, user, **kwargs)

    def all_pages(self, path: str, user: str) -> list[dict[str, Any]]:
        """Follow `next` links to the end, the way a sync must (the official CLI stops after one page)."""
        results: list[dict[str, Any]] = []
        url: str | None = self.base + path
        while url:
            response = self.get(url, user)
            assert response.status_code == 200, response.text
            page = response.json()
            results += page["results"]
            url = page["next"]
        return results


@pytest.fixture(scope="module")
def deis_scenario() -> Scenario:
    return parse(deis_document())


@pytest.fixture(scope="module")
def deis_server(deis_scenario: Scenario) -> Iterator[DeisEndpoint]:
    simulator = DeisSimulator(deis_scenario, "c1")
    server = make_server("127.0.0.1", 0, simulator.wsgi_app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield DeisEndpoint(simulator, server)
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def deis(deis_server: DeisEndpoint) -> DeisEndpoint:
    """The module's simulator, reseeded (state, tokens, faults) before each test."""
    deis_server.simulator.reset()
    return deis_server


# ---------------------------------------------------------------------------------------------------------------
# Basics: health, headers, errors, routing
# ---------------------------------------------------------------------------------------------------------------
def test_health_endpoints_answer_ok_without_auth(deis: DeisEndpoint) -> None:
    for path in ("/healthz", "/readiness"):
        response = deis.get(path)
        assert (response.status_code, response.text) == (200, "OK")


def test_every_response_carries_the_version_headers(deis: DeisEndpoint) -> None:
    responses = [
        deis.get("/healthz"),
        deis.get("/v2/"),  # 401
        deis.get("/v2/apps", "alice"),  # 200
        deis.get("/v2/apps/missing", "alice"),  # 404 JSON
        deis.get("/v2/nothing-here", "alice"),  # 404 HTML
        deis.call("PUT", "/v2/apps/shop/config", "alice"),  # 405
    ]
    assert [r.status_code for r in responses] == [200, 401, 200, 404, 404, 405]
    for response in responses:
        assert response.headers["DEIS_API_VERSION"] == "2.3"
        assert response.headers["DEIS_PLATFORM_VERSION"] == "2.3.0"
        assert "X-Deis-Release" not in response.headers


def test_api_root_needs_a_token(deis: DeisEndpoint) -> None:
    anonymous = deis.get("/v2/")
    assert anonymous.status_code == 401
    assert anonymous.json() == {"detail": "Authentication credentials were not provided."}
    assert anonymous.headers["WWW-Authenticate"] == "Token"
    assert deis.get("/v2/", "alice").status_code == 200


def test_auth_keyword_is_case_insensitive_and_other_schemes_are_anonymous(deis: DeisEndpoint) -> None:
    token = deis.simulator.token_for("alice")
    for keyword in ("token", "Token", "TOKEN"):
        response = deis.get("/v2/auth/whoami", headers={"Authorization": f"{keyword} {token}"})
        assert response.status_code == 200, keyword
        assert response.json()["username"] == "alice"
    bearer = deis.get("/v2/auth/whoami", headers={"Authorization": f"Bearer {token}"})
    assert (bearer.status_code, bearer.json()) == (401, {"detail": "Authentication credentials were not provided."})
    wrong = deis.get("/v2/auth/whoami", headers={"Authorization": "token not-a-real-token"})
    assert (wrong.status_code, wrong.json()) == (401, {"detail": "Invalid token."})
    empty = deis.get("/v2/auth/whoami", headers={"Authorization": "token"})
    assert empty.json() == {"detail": "Invalid token header. No credentials provided."}


def test_not_found_is_a_bare_json_string(deis: DeisEndpoint) -> None:
    response = deis.get("/v2/apps/no-such-app", "panel")
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == "No App matches the given query."


def test_unknown_url_is_djangos_html_page(deis: DeisEndpoint) -> None:
    response = deis.get("/v2/does/not/exist", "panel")
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<h1>Not Found</h1>" in response.text


def test_trailing_slash_is_optional_on_ordinary_routes(deis: DeisEndpoint) -> None:
    for path in ("/v2/apps", "/v2/apps/", "/v2/apps/shop", "/v2/apps/shop/", "/v2/apps/shop/config/",
                 "/v2/auth/whoami/", "/v2/certs/", "/v2/apps/shop/domains/"):
        assert deis.get(path, "alice" if "certs" not in path else "panel").status_code == 200, path


def test_malformed_json_is_a_400_parse_error(deis: DeisEndpoint) -> None:
    response = deis.post(
        "/v2/apps/shop/config", "alice", data=b'{"values": {', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error - ")
    assert deis.get("/v2/apps/shop/config", "alice").json()["values"]["PLATFORM"] == "deis"


def test_bodies_that_are_not_json_objects(deis: DeisEndpoint) -> None:
    text = deis.post("/v2/apps", "alice", data="id=x", headers={"Content-Type": "text/plain"})
    assert (text.status_code, text.json()) == (415, {"detail": 'Unsupported media type "text/plain" in request.'})
    listed = deis.post("/v2/apps/shop/domains", "alice", json=["www.example.org"])
    assert listed.status_code == 400
    assert listed.json() == {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}


# ---------------------------------------------------------------------------------------------------------------
# Auth
# ---------------------------------------------------------------------------------------------------------------
def test_login_returns_the_users_token(deis: DeisEndpoint) -> None:
    response = deis.post("/v2/auth/login/", json={"username": "alice", "password": "alice-pw"})
    assert response.status_code == 200
    assert response.json() == {"token": deis.simulator.token_for("alice")}


def test_scenario_tokens_are_used_and_others_derived(deis: DeisEndpoint) -> None:
    assert deis.simulator.token_for("panel") == "panel-token-c1"
    assert deis.simulator.users()[0] == {"username": "panel", "cluster": "c1", "token": "panel-token-c1", "admin": True}
    assert [u["admin"] for u in deis.simulator.users()] == [True, False, True, False]
    assert re.fullmatch(r"[0-9a-f]{40}", deis.simulator.token_for("alice"))
    assert deis.get("/v2/auth/whoami", headers={"Authorization": "token panel-token-c1"}).status_code == 200


def test_login_with_bad_credentials_is_a_400(deis: DeisEndpoint) -> None:
    for body in ({"username": "alice", "password": "wrong"}, {"username": "nobody", "password": "x"}):
        response = deis.post("/v2/auth/login/", json=body)
        assert response.status_code == 400
        assert response.json() == {"non_field_errors": ["Unable to log in with provided credentials."]}
    missing = deis.post("/v2/auth/login/", json={"username": "alice"})
    assert (missing.status_code, missing.json()) == (400, {"password": ["This field is required."]})


def test_login_and_tokens_require_the_trailing_slash(deis: DeisEndpoint) -> None:
    login = deis.post("/v2/auth/login", json={"username": "alice", "password": "alice-pw"})
    assert login.status_code == 404
    assert login.headers["Content-Type"].startswith("text/html")
    assert deis.post("/v2/auth/tokens", "alice").status_code == 404


def test_whoami_returns_the_user_object(deis: DeisEndpoint) -> None:
    body = deis.get("/v2/auth/whoami", "bob").json()
    assert set(body) == {
        "email", "username", "first_name", "last_name", "is_superuser", "is_staff", "groups",
        "user_permissions", "last_login", "date_joined", "is_active",
    }
    assert (body["username"], body["is_superuser"], body["is_staff"]) == ("bob", True, True)
    assert DATE.match(body["date_joined"])
    assert deis.get("/v2/auth/whoami", "alice").json()["is_superuser"] is False


def test_regenerating_a_token_invalidates_the_old_one(deis: DeisEndpoint) -> None:
    old = deis.simulator.token_for("alice")
    response = deis.post("/v2/auth/tokens/", "alice")
    assert response.status_code == 200
    new = response.json()["token"]
    assert new != old and deis.simulator.token_for("alice") == new
    stale = deis.get("/v2/apps", headers={"Authorization": f"token {old}"})
    assert (stale.status_code, stale.json()) == (401, {"detail": "Invalid token."})
    assert deis.get("/v2/apps", headers={"Authorization": f"token {new}"}).status_code == 200


def test_only_admins_regenerate_someone_elses_token(deis: DeisEndpoint) -> None:
    carol_before = deis.simulator.token_for("carol")
    denied = deis.post("/v2/auth/tokens/", "alice", json={"username": "carol"})
    assert denied.status_code == 403
    assert deis.simulator.token_for("carol") == carol_before
    allowed = deis.post("/v2/auth/tokens/", "bob", json={"username": "carol"})
    assert allowed.status_code == 200 and allowed.json()["token"] == deis.simulator.token_for("carol")


def test_admins_can_regenerate_every_token(deis: DeisEndpoint) -> None:
    before = {user: deis.simulator.token_for(user) for user in ("panel", "alice", "bob", "carol")}
    response = deis.post("/v2/auth/tokens/", "bob", json={"all": True})
    assert (response.status_code, response.json()) == (200, "")
    after = {user: deis.simulator.token_for(user) for user in before}
    assert all(before[user] != after[user] for user in before)


# ---------------------------------------------------------------------------------------------------------------
# Apps and pagination
# ---------------------------------------------------------------------------------------------------------------
def test_apps_page_through_absolute_next_links(deis: DeisEndpoint) -> None:
    first = deis.get("/v2/apps", "panel").json()
    total = 2 + ALICE_APPS + CAROL_APPS
    assert first["count"] == total and len(first["results"]) == 100 and first["previous"] is None
    assert first["next"] == f"{deis.base}/v2/apps?limit=100&offset=100"
    apps = deis.all_pages("/v2/apps", "panel")
    ids = [app["id"] for app in apps]
    assert len(ids) == total == len(set(ids))
    assert ids == sorted(ids) == deis.simulator.app_ids()
    assert set(apps[0]) == {"uuid", "id", "owner", "structure", "created", "updated"}
    assert DATE.match(apps[0]["created"])


def test_page_links_keep_other_query_parameters_and_go_back(deis: DeisEndpoint) -> None:
    page = deis.get("/v2/apps?offset=150&limit=50", "panel").json()
    assert page["next"] == f"{deis.base}/v2/apps?limit=50&offset=200"
    assert page["previous"] == f"{deis.base}/v2/apps?limit=50&offset=100"
    second = deis.get("/v2/apps?limit=50&offset=50", "panel").json()
    assert second["previous"] == f"{deis.base}/v2/apps?limit=50"
    past_the_end = deis.get("/v2/apps?offset=5000", "panel").json()
    assert (past_the_end["results"], past_the_end["next"]) == ([], None)


def test_a_bad_limit_silently_means_the_default_page(deis: DeisEndpoint) -> None:
    for limit in ("abc", "0", "-5"):
        page = deis.get(f"/v2/apps?limit={limit}", "panel").json()
        assert len(page["results"]) == 100, limit
    assert len(deis.get("/v2/apps?limit=7", "panel").json()["results"]) == 7


def test_owners_see_their_apps_and_shared_ones_admins_see_all(deis: DeisEndpoint) -> None:
    alice = {app["id"] for app in deis.all_pages("/v2/apps", "alice")}
    assert alice == {"shop"} | {f"alice-{n:03d}" for n in range(ALICE_APPS)}
    carol = {app["id"] for app in deis.all_pages("/v2/apps", "carol")}
    assert "shop" in carol and "blog" in carol and "alice-000" not in carol  # shop is shared with carol
    bob = deis.all_pages("/v2/apps", "bob")
    assert len(bob) == 2 + ALICE_APPS + CAROL_APPS


def test_an_app_outside_your_reach_is_forbidden(deis: DeisEndpoint) -> None:
    response = deis.get("/v2/apps/alice-001", "carol")
    assert response.status_code == 403
    assert response.json() == {"detail": "You do not have permission to perform this action."}
    assert deis.get("/v2/apps/alice-001/config", "carol").status_code == 403
    assert deis.get("/v2/apps/alice-001", "bob").status_code == 200  # admin


def test_create_app_with_a_name_or_a_random_one(deis: DeisEndpoint) -> None:
    named = deis.post("/v2/apps/", "alice", json={"id": "new-app"})
    assert named.status_code == 201
    assert named.json()["owner"] == "alice" and named.json()["structure"] == {}
    domains = deis.get("/v2/apps/new-app/domains", "alice").json()["results"]
    assert [d["domain"] for d in domains] == ["new-app"]  # the controller adds the app id as a domain
    generated = deis.post("/v2/apps", "alice")
    assert generated.status_code == 201
    assert re.fullmatch(r"[a-z]+-[a-z]+", generated.json()["id"])
    assert generated.json()["id"] in {a["id"] for a in deis.all_pages("/v2/apps", "alice")}


def test_create_app_rejects_bad_and_taken_names(deis: DeisEndpoint) -> None:
    taken = deis.post("/v2/apps", "alice", json={"id": "shop"})
    assert (taken.status_code, taken.json()) == (400, {"id": ["app with this id already exists."]})
    bad = deis.post("/v2/apps", "alice", json={"id": "Bad_Name"})
    assert bad.status_code == 400
    assert "App name can only contain a-z (lowercase), 0-9 and hypens" in bad.json()["id"]
    assert "Bad_Name" not in deis.simulator.app_ids()


def test_transfer_ownership(deis: DeisEndpoint) -> None:
    assert deis.post("/v2/apps/alice-005", "carol", json={"owner": "carol"}).status_code == 403
    unknown = deis.post("/v2/apps/alice-005", "alice", json={"owner": "nobody"})
    assert (unknown.status_code, unknown.json()) == (404, "No User matches the given query.")
    assert deis.post("/v2/apps/alice-005", "alice", json={"owner": "carol"}).status_code == 200
    assert deis.get("/v2/apps/alice-005", "carol").json()["owner"] == "carol"
    assert "alice-005" not in {a["id"] for a in deis.all_pages("/v2/apps", "alice")}
    assert "alice-005" in {a["id"] for a in deis.all_pages("/v2/apps", "carol")}


def test_delete_app(deis: DeisEndpoint) -> None:
    assert deis.delete("/v2/apps/shop", "carol").status_code == 403  # shared users cannot delete
    assert deis.delete("/v2/apps/shop", "alice").status_code == 204
    assert deis.get("/v2/apps/shop", "alice").json() == "No App matches the given query."
    # its domains went with it, so the certificate lost its domain
    assert deis.get("/v2/certs/shop-cert", "panel").json()["domains"] == []


# ---------------------------------------------------------------------------------------------------------------
# Config and limits
# ---------------------------------------------------------------------------------------------------------------
def test_config_shape_and_seeded_values(deis: DeisEndpoint) -> None:
    config = deis.get("/v2/apps/shop/config", "alice").json()
    assert set(config) == {
        "uuid", "app", "owner", "values", "memory", "cpu", "tags", "registry", "healthcheck", "created", "updated"
    }
    assert config["app"] == "shop" and config["owner"] == "alice"
    assert config["values"] == {"DATABASE_URL": "postgres://db/shop", "PLATFORM": "deis"}
    assert config["memory"] == {"web": "256M", "worker": "128M/256M"}
    assert config["cpu"] == {"web": "500m"}


def test_config_post_merges_only_the_keys_sent(deis: DeisEndpoint) -> None:
    response = deis.post("/v2/apps/shop/config", "alice", json={"values": {"NEW_KEY": 42}, "memory": {"web": "64M"}})
    assert response.status_code == 201
    config = response.json()
    assert config["values"] == {"DATABASE_URL": "postgres://db/shop", "PLATFORM": "deis", "NEW_KEY": "42"}
    assert config["memory"] == {"web": "64M", "worker": "128M/256M"}
    assert config["cpu"] == {"web": "500m"}
    assert deis.get("/v2/apps/shop/config", "alice").json() == config


def test_config_null_unsets_a_key(deis: DeisEndpoint) -> None:
    body = {"values": {"PLATFORM": None}, "memory": {"worker": None}}
    response = deis.post("/v2/apps/shop/config", "alice", json=body)
    assert response.status_code == 201
    assert response.json()["values"] == {"DATABASE_URL": "postgres://db/shop"}
    assert response.json()["memory"] == {"web": "256M"}


def test_config_unsetting_a_missing_key_is_a_422(deis: DeisEndpoint) -> None:
    response = deis.post("/v2/apps/shop/config", "alice", json={"memory": {"cron": None}})
    assert (response.status_code, response.json()) == (422, {"detail": "cron does not exist under memory"})
    response = deis.post("/v2/apps/shop/config", "alice", json={"values": {"NOPE": None, "OTHER": "1"}})
    assert (response.status_code, response.json()) == (422, {"detail": "NOPE does not exist under values"})
    assert "OTHER" not in deis.get("/v2/apps/shop/config", "alice").json()["values"]  # nothing applied


def test_config_post_that_changes_nothing_is_a_409_naming_the_user(deis: DeisEndpoint) -> None:
    same = deis.post("/v2/apps/shop/config", "carol", json={"memory": {"web": "256M"}})  # carol: shared user
    assert same.status_code == 409
    assert same.json() == {"detail": "carol changed nothing - release stopped"}
    empty = deis.post("/v2/apps/shop/config", "panel", json={})
    assert empty.json() == {"detail": "panel changed nothing - release stopped"}


def test_limit_values_are_validated(deis: DeisEndpoint) -> None:
    cases = [
        ({"memory": {"web": "64"}}, "memory", "Memory limit format"),  # bare number
        ({"memory": {"web": "1Z"}}, "memory", "Memory limit format"),
        ({"memory": {"web": "2M"}}, "memory", "below the minimum"),  # under 4 MiB
        ({"memory": {"Web_1": "64M"}}, "memory", "Process types can only contain lowercase alphanumeric"),
        ({"cpu": {"web": "1G"}}, "cpu", "CPU limit format"),
        ({"cpu": {"w3&b": "500m"}}, "cpu", "Process types can only contain"),
        ({"values": {"1BAD": "x"}}, "values", "Config keys must start with a letter or underscore"),
        ({"values": {"PORT": "http"}}, "values", "PORT can only be a numeric value"),
    ]
    for body, field, message in cases:
        response = deis.post("/v2/apps/shop/config", "alice", json=body)
        assert response.status_code == 400, body
        assert list(response.json()) == [field], body
        assert message in response.json()[field][0], body
    assert deis.get("/v2/apps/shop/config", "alice").json()["memory"] == {"web": "256M", "worker": "128M/256M"}


def test_limits_in_the_shapes_the_cli_sends(deis: DeisEndpoint) -> None:
    for body in (
        {"memory": {"web": "64M", "worker": "32M/64M"}},
        {"cpu": {"web": "250m/500m"}},
        {"memory": {"worker": None}},
        {"memory": {"db": "1G/2G"}, "cpu": {"db": "1/2"}},
        {"memory": {"my-proc": "4M"}},
    ):
        assert deis.post("/v2/apps/shop/config", "alice", json=body).status_code == 201, body
    config = deis.get("/v2/apps/shop/config", "alice").json()
    assert config["memory"] == {"web": "64M", "db": "1G/2G", "my-proc": "4M"}
    assert config["cpu"] == {"web": "250m/500m", "db": "1/2"}


def test_config_accepts_json_strings_in_form_posts(deis: DeisEndpoint) -> None:
    # The controller's own tests post form fields holding JSON text; its JSONField decodes them.
    response = deis.post("/v2/apps/shop/config", "alice", data={"memory": '{"web": "512M"}'})
    assert response.status_code == 201 and response.json()["memory"]["web"] == "512M"


def test_config_other_methods_are_405(deis: DeisEndpoint) -> None:
    for method in ("PUT", "PATCH", "DELETE"):
        response = deis.call(method, "/v2/apps/shop/config", "alice", json={"values": {"A": "1"}})
        assert (response.status_code, response.json()) == (405, {"detail": f'Method "{method}" not allowed.'})


# ---------------------------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------------------------
def test_settings_carry_app_type_label_and_maintenance(deis: DeisEndpoint) -> None:
    blog = deis.get("/v2/apps/blog/settings", "carol").json()
    assert blog["label"] == {"app-type": "worker"} and blog["maintenance"] is True
    assert blog["routable"] is True and blog["whitelist"] == [] and blog["autoscale"] == {}


def test_settings_post_changes_or_409s(deis: DeisEndpoint) -> None:
    changed = deis.post("/v2/apps/shop/settings", "alice", json={"maintenance": True})
    assert changed.status_code == 201 and changed.json()["maintenance"] is True
    again = deis.post("/v2/apps/shop/settings", "alice", json={"maintenance": True})
    assert (again.status_code, again.json()) == (409, {"detail": "alice changed nothing"})
    relabel = deis.post("/v2/apps/shop/settings", "alice", json={"label": {"app-type": "api"}})
    assert relabel.status_code == 201 and relabel.json()["label"] == {"app-type": "api"}
    missing = deis.post("/v2/apps/shop/settings", "alice", json={"label": {"team": None}})
    assert (missing.status_code, missing.json()) == (422, {"detail": "team does not exist under label"})


# ---------------------------------------------------------------------------------------------------------------
# Domains
# ---------------------------------------------------------------------------------------------------------------
def test_domains_list_is_paginated_and_has_no_certificate(deis: DeisEndpoint) -> None:
    page = deis.get("/v2/apps/shop/domains", "alice").json()
    assert set(page) == {"count", "next", "previous", "results"}
    assert [d["domain"] for d in page["results"]] == ["shop", "shop.example.com", "www.shop.example.com"]
    assert set(page["results"][0]) == {"owner", "created", "updated", "app", "domain"}
    limited = deis.get("/v2/apps/shop/domains?limit=1", "alice").json()
    assert limited["next"] == f"{deis.base}/v2/apps/shop/domains?limit=1&offset=1"


def test_add_and_remove_a_domain(deis: DeisEndpoint) -> None:
    created = deis.post("/v2/apps/shop/domains", "alice", json={"domain": "api.shop.example.com"})
    assert created.status_code == 201 and created.json()["domain"] == "api.shop.example.com"
    assert deis.delete("/v2/apps/shop/domains/api.shop.example.com", "alice").status_code == 204
    gone = deis.delete("/v2/apps/shop/domains/api.shop.example.com", "alice")
    assert (gone.status_code, gone.json()) == (404, "No Domain matches the given query.")


def test_hostnames_are_validated(deis: DeisEndpoint) -> None:
    for domain, message in (
        ("*", "Hostname can't only be a wildcard"),
        ("under_score.example.com", "Hostname does not look valid, could not convert to ACE"),
        ("example.123", "Hostname does not look valid."),
    ):
        response = deis.post("/v2/apps/shop/domains", "alice", json={"domain": domain})
        assert response.status_code == 400, domain
        assert response.json()["domain"][0].startswith(message), domain
    missing = deis.post("/v2/apps/shop/domains", "alice", json={})
    assert missing.json() == {"domain": ["This field is required."]}
    wildcard = deis.post("/v2/apps/shop/domains", "alice", json={"domain": "*.shop.example.com"})
    assert wildcard.status_code == 201


def test_a_domain_used_by_another_app_is_a_400(deis: DeisEndpoint) -> None:
    response = deis.post("/v2/apps/alice-001/domains", "alice", json={"domain": "shop.example.com"})
    assert response.status_code == 400
    assert response.json() == {"domain": ["The domain shop.example.com is already in use by another app"]}


# ---------------------------------------------------------------------------------------------------------------
# Perms and admin
# ---------------------------------------------------------------------------------------------------------------
def test_perms_list_excludes_the_owner_and_sharing_changes_visibility(deis: DeisEndpoint) -> None:
    assert deis.get("/v2/apps/shop/perms", "alice").json() == {"users": ["carol"]}
    assert deis.get("/v2/apps/alice-002", "carol").status_code == 403
    assert deis.post("/v2/apps/alice-002/perms", "alice", json={"username": "carol"}).status_code == 201
    assert deis.get("/v2/apps/alice-002", "carol").status_code == 200
    assert "alice-002" in {a["id"] for a in deis.all_pages("/v2/apps", "carol")}
    assert deis.post("/v2/apps/alice-002/perms", "carol", json={"username": "bob"}).status_code == 403
    assert deis.delete("/v2/apps/alice-002/perms/carol", "alice").status_code == 204
    assert deis.get("/v2/apps/alice-002", "carol").status_code == 403


def test_admin_endpoints_are_for_admins_only(deis: DeisEndpoint) -> None:
    for path in ("/v2/admin/perms", "/v2/users"):
        response = deis.get(path, "alice")
        assert response.status_code == 403
        assert response.json() == {"detail": "You do not have permission to perform this action."}
    admins = deis.get("/v2/admin/perms", "bob").json()
    assert admins["count"] == 2 and admins["results"] == [
        {"username": "panel", "is_superuser": True}, {"username": "bob", "is_superuser": True}
    ]
    users = deis.get("/v2/users?limit=2", "panel").json()
    assert users["count"] == 4 and users["next"] == f"{deis.base}/v2/users?limit=2&offset=2"
    assert [u["username"] for u in deis.all_pages("/v2/users", "panel")] == ["panel", "alice", "bob", "carol"]


# ---------------------------------------------------------------------------------------------------------------
# Certificates
# ---------------------------------------------------------------------------------------------------------------
def test_certificates_are_scoped_to_their_owner_even_for_admins(deis: DeisEndpoint) -> None:
    panel = deis.get("/v2/certs", "panel").json()
    assert [c["name"] for c in panel["results"]] == ["shop-cert"]
    bob = deis.get("/v2/certs", "bob").json()  # bob is an admin, yet sees only his own
    assert [c["name"] for c in bob["results"]] == ["bob-cert"]
    for method in ("GET", "DELETE"):
        response = deis.call(method, "/v2/certs/shop-cert", "bob")
        assert (response.status_code, response.json()) == (404, "No Certificate matches the given query.")
    attach = deis.post("/v2/certs/shop-cert/domain/", "bob", json={"domain": "www.shop.example.com"})
    assert attach.status_code == 404
    assert deis.get("/v2/certs/shop-cert", "panel").status_code == 200  # bob's DELETE did nothing


def test_seeded_certificate_fields_come_from_the_pem(deis: DeisEndpoint) -> None:
    certificate = deis.get("/v2/certs/shop-cert", "panel").json()
    assert set(certificate) == {
        "id", "owner", "name", "common_name", "san", "domains", "fingerprint", "expires", "starts", "issuer",
        "subject", "created", "updated",
    }
    assert certificate["owner"] == "panel" and certificate["common_name"] == "shop.example.com"
    assert certificate["san"] == ["shop.example.com", "www.shop.example.com"]
    assert certificate["domains"] == ["shop.example.com"]
    assert certificate["subject"] == "/CN=shop.example.com"
    assert certificate["issuer"] == "/C=US/O=Admin Panel Sandbox/CN=Sandbox CA"
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", certificate["fingerprint"])
    expires = datetime.strptime(certificate["expires"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert timedelta(days=9) < expires - datetime.now(UTC) <= timedelta(days=10)


def test_create_certificate_parses_the_pem(deis: DeisEndpoint) -> None:
    start = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    sans = ["api.example.com", "api2.example.com"]
    pem, key = make_certificate("api.example.com", sans, start, start + timedelta(days=90))
    response = deis.post("/v2/certs", "panel", json={"name": "api-cert", "certificate": pem, "key": key})
    assert response.status_code == 201
    body = response.json()
    der = x509.load_pem_x509_certificate(pem.encode()).fingerprint(hashes.SHA256())
    assert body["fingerprint"] == der.hex(":").upper()
    assert (body["starts"], body["expires"]) == ("2025-03-01T12:00:00Z", "2025-05-30T12:00:00Z")
    assert body["san"] == ["api.example.com", "api2.example.com"] and body["domains"] == []
    assert "certificate" not in body and "key" not in body  # write-only
    assert "api-cert" in [c["name"] for c in deis.get("/v2/certs", "panel").json()["results"]]


def test_create_certificate_validates_name_pem_and_uniqueness(deis: DeisEndpoint) -> None:
    pem, key = make_certificate("x.example.com", [], datetime(2025, 1, 1), datetime(2026, 1, 1))
    bad_name = deis.post("/v2/certs", "panel", json={"name": "Bad_Name", "certificate": pem, "key": key})
    assert bad_name.status_code == 400
    assert bad_name.json() == {"name": ["Can only contain a-z (lowercase), 0-9 and hyphens"]}
    taken = deis.post("/v2/certs", "panel", json={"name": "bob-cert", "certificate": pem, "key": key})
    assert taken.json() == {"name": ["certificate with this name already exists."]}  # unique across owners
    bad_pem = deis.post("/v2/certs", "panel", json={"name": "ok-name", "certificate": "nope", "key": key})
    assert bad_pem.status_code == 400 and bad_pem.json()["certificate"][0].startswith("Could not load certificate")
    missing = deis.post("/v2/certs", "panel", json={"name": "ok-name"})
    assert missing.json() == {"certificate": ["This field is required."], "key": ["This field is required."]}
    assert [c["name"] for c in deis.simulator.certificates()] == ["bob-cert", "shop-cert"]


def test_attach_and_detach_a_domain(deis: DeisEndpoint) -> None:
    attach = deis.post("/v2/certs/shop-cert/domain/", "panel", json={"domain": "www.shop.example.com"})
    assert attach.status_code == 201
    assert deis.get("/v2/certs/shop-cert", "panel").json()["domains"] == ["shop.example.com", "www.shop.example.com"]
    again = deis.post("/v2/certs/shop-cert/domain/", "panel", json={"domain": "www.shop.example.com"})
    assert (again.status_code, again.json()) == (409, {"detail": "Domain already has a certificate attached to it"})
    unknown = deis.post("/v2/certs/shop-cert/domain/", "panel", json={"domain": "nowhere.example.com"})
    assert (unknown.status_code, unknown.json()) == (404, "No Domain matches the given query.")
    detach = deis.delete("/v2/certs/shop-cert/domain/www.shop.example.com", "panel")
    assert detach.status_code == 204
    assert deis.get("/v2/certs/shop-cert", "panel").json()["domains"] == ["shop.example.com"]


def test_cert_domain_routes_follow_the_slash_rules(deis: DeisEndpoint) -> None:
    with_slash = deis.delete("/v2/certs/shop-cert/domain/shop.example.com/", "panel")
    assert with_slash.status_code == 404 and with_slash.headers["Content-Type"].startswith("text/html")
    without_slash = deis.post("/v2/certs/shop-cert/domain", "panel", json={"domain": "www.shop.example.com"})
    assert without_slash.status_code == 404 and without_slash.headers["Content-Type"].startswith("text/html")
    assert deis.get("/v2/certs/shop-cert", "panel").json()["domains"] == ["shop.example.com"]


def test_detach_clears_the_domain_whatever_certificate_it_had(deis: DeisEndpoint) -> None:
    # Certificate.detach in the controller never checks that the domain carries *this* certificate.
    response = deis.delete("/v2/certs/bob-cert/domain/shop.example.com", "bob")
    assert response.status_code == 204
    assert deis.get("/v2/certs/shop-cert", "panel").json()["domains"] == []


def test_attach_without_a_domain_in_the_body_is_a_server_error(deis: DeisEndpoint) -> None:
    # The view reads request.data["domain"] unguarded: the real controller answers 500, so does the simulator.
    response = deis.post("/v2/certs/shop-cert/domain/", "panel", json={})
    assert (response.status_code, response.json()) == (500, {"detail": "Server Error"})


def test_deleting_a_certificate_frees_its_domains(deis: DeisEndpoint) -> None:
    assert deis.delete("/v2/certs/shop-cert", "panel").status_code == 204
    assert deis.get("/v2/certs/shop-cert", "panel").json() == "No Certificate matches the given query."
    assert deis.post("/v2/certs/bob-cert/domain/", "bob", json={"domain": "shop.example.com"}).status_code == 201


# ---------------------------------------------------------------------------------------------------------------
# Faults, reset and seeding
# ---------------------------------------------------------------------------------------------------------------
def test_injected_server_errors_use_the_controller_error_shape(deis: DeisEndpoint) -> None:
    admin = deis.post(f"{deis.base}/__sandbox/faults", json={"error_rate": 1.0, "error_statuses": [500]})
    assert admin.status_code == 200
    response = deis.get("/v2/apps", "alice")
    assert (response.status_code, response.json()) == (500, {"detail": "Server Error"})
    deis.delete(f"{deis.base}/__sandbox/faults")
    assert deis.get("/v2/apps", "alice").status_code == 200


def test_a_fault_can_break_pagination_halfway(deis: DeisEndpoint) -> None:
    deis.simulator.faults.configure(after_requests=1, error_rate=1.0, error_statuses=[503], path_contains="/v2/apps")
    first = deis.get("/v2/apps", "panel")
    assert first.status_code == 200
    second = deis.get(first.json()["next"], "panel")
    assert second.status_code == 503
    assert second.json() == {"detail": "Service temporarily unavailable, try again later."}


def test_a_connection_reset_reaches_the_client(deis: DeisEndpoint) -> None:
    deis.simulator.faults.configure(reset_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        deis.get("/v2/apps", "alice")


def test_reset_restores_state_tokens_and_clears_faults(deis: DeisEndpoint) -> None:
    old_token = deis.simulator.token_for("alice")
    deis.post("/v2/auth/tokens/", "alice")
    assert deis.post("/v2/apps/shop/config", "alice", json={"values": {"X": "1"}}).status_code == 201
    assert deis.delete("/v2/apps/blog", "carol").status_code == 204
    deis.simulator.faults.configure(error_rate=1.0)
    deis.simulator.reset()
    assert deis.simulator.token_for("alice") == old_token
    assert deis.get("/v2/apps/shop/config", "alice").json()["values"] == {
        "DATABASE_URL": "postgres://db/shop", "PLATFORM": "deis"
    }
    assert deis.get("/v2/apps/blog", "carol").status_code == 200
    assert deis.simulator.faults.settings.error_rate == 0.0


def test_seeding_takes_only_the_simulated_clusters_objects(deis_scenario: Scenario) -> None:
    staging = DeisSimulator(deis_scenario, "c2")
    assert staging.app_ids() == ["shop"]
    assert [c["name"] for c in staging.certificates()] == ["other-cluster"]
    shop = staging.app("shop")
    assert shop is not None and shop["owner"] == "carol" and shop["domains"] == ["shop"]
    assert staging.app("blog") is None
    assert staging.token_for("panel") != "panel-token-c1"  # that token was given for c1 only


def test_seeding_rejects_inconsistent_scenarios() -> None:
    document = deis_document()
    document["apps"][1]["domains"] = ["shop.example.com"]  # already shop's
    with pytest.raises(ScenarioError, match="shop.example.com is already used by app shop"):
        DeisSimulator(parse(document), "c1")
    document = deis_document()
    document["apps"][0]["memory"] = {"web": "64"}
    with pytest.raises(ScenarioError, match="Memory limit format"):
        DeisSimulator(parse(document), "c1")
    document = deis_document()
    document["certificates"][0]["domains"] = ["elsewhere.example.com"]
    with pytest.raises(ScenarioError, match="belongs to no app"):
        DeisSimulator(parse(document), "c1")
    with pytest.raises(ScenarioError, match="no cluster named"):
        DeisSimulator(parse(deis_document()), "nope")


def test_make_certificate_is_real_x509_signed_by_the_sandbox_ca() -> None:
    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC)
    pem, key_pem = make_certificate("signed.example.com", ["signed.example.com"], start, end)
    certificate = x509.load_pem_x509_certificate(pem.encode())
    authority = x509.load_pem_x509_certificate(ca_certificate_pem().encode())
    certificate.verify_directly_issued_by(authority)  # raises InvalidSignature if the CA did not sign it
    assert (certificate.not_valid_before_utc, certificate.not_valid_after_utc) == (start, end)
    assert key_pem.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert hashlib.sha256(pem.encode()).digest() != hashlib.sha256(
        make_certificate("other.example.com", [], start, end)[0].encode()
    ).digest()
    with pytest.raises(ValueError, match="must be after"):
        make_certificate("bad.example.com", [], end, start)
