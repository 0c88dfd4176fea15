"""Contract tests for the switches that make the Deis simulator as harsh as production.

Behind a proxy, `next` links carry the proxy's idea of the origin; a listing can come back short of its count;
apps come and go while a client reads (churn); a config POST answers only once its release is deployed, and its
answer can be lost after it applied. Each switch is proved through a real HTTP server and `requests`.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandbox.deis import DeisSimulator
from sandbox.scenario import Scenario, parse
from tests.sandbox.conftest import serve_wsgi

PROXY_ORIGIN = "http://deis-controller.deis.svc.cluster.local:8000"


def harsh_document() -> dict[str, Any]:
    """Seven apps on one cluster; a panel superuser, a second superuser and a plain user."""
    apps = [{"name": f"app-{n}", "cluster": "c1", "owner": "alice" if n % 2 else "panel"} for n in range(7)]
    return {
        "name": "deis-harsh",
        "panel_user": {"username": "panel", "password": "panel-pw", "admin": True},
        "regions": [{"name": "eu", "aws_region": "eu-west-1", "timezone": "UTC", "clusters": [{"name": "c1"}]}],
        "users": [{"username": "alice", "password": "alice-pw"},
                  {"username": "carol", "password": "carol-pw", "admin": True}],
        "apps": apps,
    }


@pytest.fixture(scope="module")
def harsh_scenario() -> Scenario:
    return parse(harsh_document())


@pytest.fixture(scope="module")
def harsh_server(harsh_scenario: Scenario) -> Iterator[tuple[DeisSimulator, str]]:
    simulator = DeisSimulator(harsh_scenario, "c1")
    with serve_wsgi(simulator.wsgi_app) as base_url:
        yield simulator, base_url


@pytest.fixture
def harsh(harsh_server: tuple[DeisSimulator, str]) -> tuple[DeisSimulator, str]:
    simulator, base_url = harsh_server
    simulator.reset()
    return simulator, base_url


def call(harsh: tuple[DeisSimulator, str], method: str, path: str, user: str = "panel",
         **kwargs: Any) -> requests.Response:
    simulator, base_url = harsh
    headers = {"Authorization": f"token {simulator.token_for(user)}"}
    return requests.request(method, f"{base_url}{path}", headers=headers, timeout=kwargs.pop("timeout", 10), **kwargs)


# -- behind a proxy ---------------------------------------------------------------------------------------------
def test_behind_a_proxy_page_links_carry_the_origin_the_controller_believes_in(harsh) -> None:
    simulator, base_url = harsh
    simulator.set_switches(behind_proxy=PROXY_ORIGIN)
    first = call(harsh, "GET", "/v2/apps?limit=3").json()
    assert first["next"] == f"{PROXY_ORIGIN}/v2/apps?limit=3&offset=3"
    second = call(harsh, "GET", "/v2/apps?limit=3&offset=3").json()
    assert second["previous"] == f"{PROXY_ORIGIN}/v2/apps?limit=3"
    assert [app["id"] for app in first["results"] + second["results"]] == [f"app-{n}" for n in range(6)]

    simulator.clear_switches()
    assert call(harsh, "GET", "/v2/apps?limit=3").json()["next"] == f"{base_url}/v2/apps?limit=3&offset=3"


def test_switches_are_served_over_http_and_refuse_bad_values(harsh) -> None:
    simulator, base_url = harsh
    answer = requests.post(f"{base_url}/__sandbox/deis", json={"behind_proxy": PROXY_ORIGIN, "drop_per_page": 1},
                           timeout=10)
    assert answer.status_code == 200 and answer.json()["behind_proxy"] == PROXY_ORIGIN
    assert simulator.switches.drop_per_page == 1
    bad = requests.post(f"{base_url}/__sandbox/deis", json={"behind_proxy": "not an origin", "deploy_secs": 1},
                        timeout=10)
    assert bad.status_code == 422
    assert {problem["field"] for problem in bad.json()["problems"]} == {"behind_proxy", "deploy_secs"}
    assert simulator.switches.behind_proxy == PROXY_ORIGIN  # a refused change changes nothing
    assert requests.delete(f"{base_url}/__sandbox/deis", timeout=10).json()["drop_per_page"] == 0
    simulator.set_switches(drop_per_page=2)
    simulator.reset()
    assert simulator.switches.drop_per_page == 0  # a reset clears switches like it clears faults


# -- short pages ------------------------------------------------------------------------------------------------
def test_drop_per_page_leaves_results_out_while_count_stays(harsh) -> None:
    simulator, _ = harsh
    simulator.set_switches(drop_per_page=1)
    page = call(harsh, "GET", "/v2/apps?limit=3").json()
    assert page["count"] == 7 and len(page["results"]) == 2
    assert page["next"].endswith("/v2/apps?limit=3&offset=3")  # the links still step by the full page
    domains = call(harsh, "GET", "/v2/apps/app-0/domains").json()
    assert (domains["count"], domains["results"]) == (1, [])  # every listing, not only apps


# -- churn ------------------------------------------------------------------------------------------------------
def test_churn_creates_and_deletes_apps_between_requests(harsh) -> None:
    simulator, _ = harsh
    simulator.faults.configure(churn_per_second=500, seed=11)
    time.sleep(0.05)  # at 500 changes a second, the next request comes after at least 25 of them
    listed = {app["id"] for app in call(harsh, "GET", "/v2/apps").json()["results"]}
    simulator.faults.configure(churn_per_second=0)
    changes = list(simulator.churn_log)
    assert len(changes) == simulator.faults.state()["churned"] >= 25
    created = [change.split()[1] for change in changes if change.startswith("created ")]
    deleted = [change.split()[1] for change in changes if change.startswith("deleted ")]
    assert created and deleted  # seed 11: both kinds of change within the first 25
    assert all(name.startswith("churn-") for name in created)
    assert listed == set(simulator.app_ids())
    gone = next(name for name in deleted if name not in listed)
    answer = call(harsh, "GET", f"/v2/apps/{gone}/config")
    assert (answer.status_code, answer.json()) == (404, "No App matches the given query.")
    newcomer = next((name for name in created if name in listed), None)
    if newcomer is not None:  # churn may have deleted every app it created, later on
        domains = call(harsh, "GET", f"/v2/apps/{newcomer}/domains").json()["results"]
        assert [domain["domain"] for domain in domains] == [newcomer]


# -- whoami for each kind of user -------------------------------------------------------------------------------
@pytest.mark.parametrize("user, superuser", [("panel", True), ("carol", True), ("alice", False)])
def test_whoami_names_the_tokens_user_and_whether_they_are_a_superuser(harsh, user, superuser) -> None:
    body = call(harsh, "GET", "/v2/auth/whoami", user=user).json()
    assert (body["username"], body["is_superuser"], body["is_staff"]) == (user, superuser, superuser)
    # A plain user sees only their own apps: the reason a sync needs a superuser.
    expected = 7 if superuser else 3
    assert call(harsh, "GET", "/v2/apps", user=user).json()["count"] == expected


# -- config POST: releases and deploys --------------------------------------------------------------------------
def test_config_post_makes_one_release_listed_newest_first(harsh) -> None:
    simulator, _ = harsh
    assert call(harsh, "POST", "/v2/apps/app-1/config", json={"values": {"HELLO": "world"}}).status_code == 201
    releases = call(harsh, "GET", "/v2/apps/app-1/releases").json()
    assert releases["count"] == 3 and [r["version"] for r in releases["results"]] == [3, 2, 1]
    assert releases["results"][0]["summary"] == "panel added HELLO"
    assert releases["results"][-1]["summary"] == "alice created initial release"
    assert releases["results"][0]["config"] == simulator.app("app-1")["config"]["uuid"]
    assert call(harsh, "POST", "/v2/apps/app-1/config", json={"values": {"HELLO": "world"}}).status_code == 409
    assert simulator.app("app-1")["release_version"] == 3  # changing nothing makes no release


def test_a_slow_deploy_answers_late_but_the_config_is_saved_at_once(harsh) -> None:
    simulator, _ = harsh
    simulator.set_switches(deploy_seconds=2)
    with pytest.raises(requests.exceptions.ReadTimeout):
        call(harsh, "POST", "/v2/apps/app-2/config", json={"values": {"MODE": "fast"}}, timeout=0.3)
    assert call(harsh, "GET", "/v2/apps/app-2/config").json()["values"] == {"MODE": "fast"}
    assert simulator.app("app-2")["release_version"] == 3


@pytest.mark.parametrize("reset", [False, True])
def test_apply_then_fail_on_config_applies_once_and_loses_the_answer(harsh, reset) -> None:
    simulator, _ = harsh
    simulator.faults.configure(apply_then_fail_rate=1.0, apply_then_fail_reset=reset, path_contains="/config")
    if reset:
        with pytest.raises(requests.exceptions.ConnectionError):
            call(harsh, "POST", "/v2/apps/app-3/config", json={"values": {"KEY": "v"}})
    else:
        assert call(harsh, "POST", "/v2/apps/app-3/config", json={"values": {"KEY": "v"}}).status_code >= 500
    assert call(harsh, "GET", "/v2/apps/app-3/config").json()["values"] == {"KEY": "v"}  # reads are not failed
    assert simulator.app("app-3")["release_version"] == 3


# -- through the sandbox control app ----------------------------------------------------------------------------
def test_the_control_app_forwards_switches_to_a_deis_simulator(sandbox) -> None:
    answer = requests.post(f"{sandbox.control_url}/switches/deis:eu-prod", json={"drop_per_page": 1}, timeout=10)
    assert answer.status_code == 200 and sandbox.deis["eu-prod"].switches.drop_per_page == 1
    unknown = requests.get(f"{sandbox.control_url}/switches/cloudflare", timeout=10)
    assert unknown.status_code == 404 and "deis:eu-prod" in unknown.json()["error"]
