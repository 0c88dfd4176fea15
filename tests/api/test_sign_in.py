"""Signing in with the developer's own Deis token: what the controller lets the token see is what the API shows,
an app it may not see is a 404 exactly like a missing one, the whoami answer is cached (counted in the simulator), a
revoked token stops working once the cache time is over, and bad headers are refused changing nothing."""
from __future__ import annotations

import logging
import time

import pytest
import requests
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, Operation
from tests.api.conftest import controller_calls, reset_controller_calls


def names(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [app["name"] for app in response.get_json()["apps"]]


def test_whoami_names_the_tokens_user_and_cluster(api, sandbox):
    body = api.get("/whoami").get_json()
    assert body == {"username": "alice", "is_superuser": False, "controller": sandbox.deis_url("eu-prod").rstrip("/"),
                    "cluster": "eu-prod"}


def test_a_developer_lists_only_the_apps_their_token_may_see(api):
    # alice owns shop and blog and billing is shared with her; reports is carol's.
    assert names(api.get("/apps")) == ["billing", "blog", "shop"]
    assert names(api.get("/apps", user="bob")) == ["billing"]
    shop = api.get("/apps/shop").get_json()["app"]
    assert shop == {"name": "shop", "cluster": "eu-prod", "owner": "alice", "url": "https://shop.example.com",
                    "database": None, "backups": {"count": 0, "latest_at": None, "latest_state": None}}


def test_an_admin_token_sees_every_app_of_its_cluster(api):
    assert names(api.get("/apps", user="carol")) == ["billing", "blog", "reports", "shop"]
    assert api.get("/apps/shop", user="carol").status_code == 200


def test_another_developers_app_answers_exactly_like_a_missing_one(api):
    hidden = api.get("/apps/reports")
    missing = api.get("/apps/no-such-app")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.get_json() == _with_name(missing.get_json(), "no-such-app", "reports")
    assert hidden.get_json()["error"]["code"] == "not_found"
    # The same for everything under the app, and for an app of another cluster (api is on us-prod).
    for path in ("/apps/reports/database", "/apps/reports/backups", "/apps/api"):
        assert api.get(path).status_code == 404
    assert api.post("/apps/reports/backups").status_code == 404


def _with_name(body: dict, old: str, new: str) -> dict:
    error = body["error"]
    return {"error": {**error, "message": error["message"].replace(old, new),
                      "detail": {key: value.replace(old, new) for key, value in error["detail"].items()}}}


def test_the_whoami_answer_is_cached_one_controller_call_for_many_requests(api, sandbox):
    reset_controller_calls(sandbox)
    for _ in range(3):
        assert api.get("/whoami").status_code == 200
        assert api.get("/apps/shop").status_code == 200
    assert api.get("/apps").status_code == 200
    calls = controller_calls(sandbox)
    assert calls.get("GET /v2/auth/whoami") == 1
    assert calls.get("GET /v2/apps/shop") == 1
    # Another token is another cache entry: one more whoami.
    api.get("/whoami", user="bob")
    assert controller_calls(sandbox).get("GET /v2/auth/whoami") == 2


@pytest.mark.parametrize("cache_seconds", [1])
def test_a_token_revoked_at_the_controller_stops_working_after_the_cache_time(api, sandbox, cache_seconds):
    old = api.token("alice")
    assert api.get("/apps", token=old).status_code == 200
    regenerated = requests.post(sandbox.deis_url("eu-prod") + "/v2/auth/tokens/", json={},
                                headers={"Authorization": f"token {old}"}, timeout=5)
    assert regenerated.status_code == 200
    new = regenerated.json()["token"]
    assert new != old
    time.sleep(cache_seconds + 0.5)  # the cached answer for the old token expires
    refused = api.get("/apps", token=old)
    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "not_signed_in"
    assert "deis login" in refused.get_json()["error"]["message"]
    assert names(api.get("/apps", token=new)) == ["billing", "blog", "shop"]


@pytest.mark.parametrize("cache_seconds", [0])
def test_without_a_cache_every_request_asks_the_controller(api, sandbox, cache_seconds):
    reset_controller_calls(sandbox)
    api.get("/whoami")
    api.get("/whoami")
    assert controller_calls(sandbox).get("GET /v2/auth/whoami") == 2


def test_the_controller_url_is_matched_whatever_its_spelling(api, sandbox):
    url = sandbox.deis_url("eu-prod").rstrip("/")
    scheme, rest = url.split("://", 1)
    for spelling in (url + "/", f"{scheme.upper()}://{rest.upper()}", url + "//"):
        assert api.get("/whoami", controller=spelling).status_code == 200, spelling


def _unchanged(check):
    events = db.session.scalar(select(func.count(AuditEvent.id)))
    operations = db.session.scalar(select(func.count(Operation.id)))
    check()
    db.session.expire_all()
    assert db.session.scalar(select(func.count(AuditEvent.id))) == events
    assert db.session.scalar(select(func.count(Operation.id))) == operations


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.get_json()
    assert response.is_json and set(response.get_json()) == {"error"}
    error = response.get_json()["error"]
    assert set(error) == {"code", "message", "detail"} and error["message"]
    return error


def test_a_controller_that_is_not_configured_is_refused(api, sandbox):
    def check():
        error = error_of(api.post("/apps/shop/backups", controller="https://deis.elsewhere.example.com"), 400)
        assert error["code"] == "unknown_controller"
        assert error["detail"] == {"controller": "https://deis.elsewhere.example.com"}
        assert error_of(api.get("/whoami", controller="not a url"), 400)["code"] == "bad_request"
        assert error_of(api.get("/whoami", headers={"Authorization": f"token {api.token('alice')}"}),
                        400)["detail"] == {"header": "X-Deis-Controller"}

    _unchanged(check)


def test_malformed_missing_and_foreign_tokens_are_refused_changing_nothing(api, sandbox):
    controller = sandbox.deis_url("eu-prod")

    def check():
        for header in ("token", "token two words", "token \x7f", "token " + "a" * 513):
            error = error_of(api.post("/apps/shop/backups", headers={"Authorization": header,
                                                                      "X-Deis-Controller": controller}), 400)
            assert error["code"] == "bad_request" and error["detail"] == {"header": "Authorization"}
        for header in ("Bearer abc", "tokenabc", "SCHEMATHESIS-INVALID-VALUE"):  # another scheme: not signed in
            error = error_of(api.post("/apps/shop/backups", headers={"Authorization": header,
                                                                      "X-Deis-Controller": controller}), 401)
            assert error["code"] == "not_signed_in" and "token <your Deis token>" in error["message"]
        missing = api.post("/apps/shop/backups", headers={"X-Deis-Controller": controller})
        assert error_of(missing, 401)["code"] == "not_signed_in"
        assert missing.headers["WWW-Authenticate"].startswith("Token")
        # alice's token of us-prod presented to eu-prod's controller.
        foreign = api.post("/apps/shop/backups", token=api.token("alice", "us-prod"))
        assert error_of(foreign, 401)["code"] == "not_signed_in"

    _unchanged(check)


def test_missing_app_backup_and_operation_are_404_in_the_error_shape(api):
    def check():
        assert error_of(api.get("/apps/nope"), 404)["code"] == "not_found"
        assert error_of(api.get("/apps/shop/backups/999999"), 404)["detail"] == {"app": "shop", "backup": 999999}
        assert error_of(api.post("/apps/shop/backups/999999/restore"), 404)["code"] == "not_found"
        assert error_of(api.post("/apps/shop/backups/999999/download-token"), 404)["code"] == "not_found"
        assert error_of(api.get("/operations/999999"), 404)["code"] == "not_found"
        assert error_of(api.get("/no/such/path"), 404)["code"] == "not_found"
        assert error_of(api.client.delete("/api/v1/apps"), 405)["code"] == "method_not_allowed"
        assert error_of(api.get("/apps/shop/database"), 409)["code"] == "no_database"
        assert error_of(api.post("/apps/shop/backups"), 409)["code"] == "no_database"
        assert error_of(api.post("/apps/shop/upload-token"), 409)["code"] == "no_database"

    _unchanged(check)


def test_invalid_bodies_get_422_or_400_in_the_error_shape(api):
    def check():
        invalid = error_of(api.post("/apps/shop/backups/1/clone", json={"to": 5, "extra": True}), 422)
        assert invalid["code"] == "invalid" and set(invalid["detail"]["json"]) == {"to", "extra"}
        malformed = api.client.post("/api/v1/apps/shop/database", data="{not json", headers={
            **api.headers(), "Content-Type": "application/json"})
        assert error_of(malformed, 400)["code"] == "bad_request"

    _unchanged(check)


def test_an_unexpected_error_is_a_500_in_the_error_shape_without_its_words(api, monkeypatch):
    from app.queries import developer_api

    # Nothing real fails on demand inside a view: a stand-in raises, with words that must not reach the answer.
    def broken(session, app):
        raise RuntimeError("internal detail: s3cr3t")

    monkeypatch.setattr(developer_api, "app_view", broken)
    error = error_of(api.get("/apps/shop"), 500)
    assert error["code"] == "internal_error" and "s3cr3t" not in str(error)


def test_the_token_is_in_no_log_record(api, live_server, sandbox, caplog):
    token = api.token("alice")
    with caplog.at_level(logging.DEBUG):
        answer = requests.get(f"{live_server}/api/v1/apps/reports", headers=api.headers(), timeout=10)
        assert answer.status_code == 404
        requests.get(f"{live_server}/api/v1/whoami", headers=api.headers(), timeout=10)
    assert caplog.records  # werkzeug logged the requests
    assert token not in caplog.text


def test_refused_tokens_are_rate_limited_per_address(api, app, monkeypatch):
    import dataclasses

    monkeypatch.setitem(app.config, "SETTINGS", dataclasses.replace(app.config["SETTINGS"],
                                                                    dev_token_failure_limit="3 per minute"))
    for _ in range(3):
        assert api.get("/whoami", token="0" * 40).status_code == 401
    limited = api.get("/whoami", token="0" * 40)
    assert error_of(limited, 429)["code"] == "too_many_requests"
    # A good token from the same address is held back too: guessing is what is limited, not the user.
    assert api.get("/whoami").status_code == 429


def test_an_operation_is_shown_only_to_tokens_that_may_see_its_app(api):
    from app.operations.database_provisioning import create_database
    from app.queries.developer_api import app_on_cluster
    from app.services.databases_api import DatabasesApi

    # A create that dbapi cannot be asked about (closed port): the operation fails and its database loses the app,
    # yet its requester can still follow it.
    unreachable = DatabasesApi("http://127.0.0.1:9", "key", "http://127.0.0.1:9/cb", connect_timeout=1)
    operation = create_database(db.session, unreachable, app_on_cluster(db.session, "eu-prod", "blog"),
                                server="main", actor="deis:alice")
    assert operation.state == "failed"
    shown = api.get(f"/operations/{operation.id}").get_json()["operation"]
    assert (shown["app"], shown["state"], shown["kind"]) == ("blog", "failed", "database.create")
    assert shown["created_at"].endswith("Z") and shown["error"]
    hidden = api.get(f"/operations/{operation.id}", user="bob")  # blog is alice's
    assert error_of(hidden, 404) == error_of(api.get("/operations/999999", user="bob"), 404) | {
        "message": f"No operation #{operation.id} that you may see.", "detail": {"operation": operation.id}}
    assert api.get(f"/operations/{operation.id}", user="carol").status_code == 200  # an admin


def test_a_controller_that_fails_is_a_502_and_nothing_is_cached(api, sandbox):
    sandbox.deis["eu-prod"].faults.configure(error_rate=1.0, error_statuses=[503])
    try:
        error = error_of(api.get("/apps"), 502)
        assert error["code"] == "upstream_unavailable" and error["detail"] == {"cluster": "eu-prod"}
        assert api.token("alice") not in str(error)
    finally:
        sandbox.deis["eu-prod"].faults.clear()
    assert names(api.get("/apps")) == ["billing", "blog", "shop"]  # the failure was not remembered
