"""The Deis client against the controller simulator: every page, the controller's own words in errors."""
from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
from werkzeug.serving import make_server

from app.services.deis import DeisAppGone, DeisClient, DeisError
from sandbox.certs import ca_certificate_pem, make_certificate
from tests.sandbox.conftest import serve_wsgi


@pytest.fixture
def panel_client(sandbox) -> DeisClient:
    panel = sandbox.deis["eu-prod"]
    return DeisClient("eu-prod", sandbox.deis_url("eu-prod"), panel.token_for(panel.panel_username),
                      username=panel.panel_username, page_size=2)


def test_lists_every_page_and_reads_config_settings_domains(panel_client):
    apps = panel_client.list_apps()
    assert sorted(app.id for app in apps) == ["billing", "blog", "reports", "shop"]
    assert panel_client.calls == 2  # two apps a page, following the absolute `next` URL to the last page
    config = panel_client.get_config("shop")
    assert config.memory == {"web": "512M", "worker": "256M/512M"}
    assert panel_client.get_settings("billing").app_type == "worker"
    assert set(panel_client.list_domains("shop")) >= {"www.example.com", "shop.example.com"}
    assert {cert.name for cert in panel_client.list_certificates()} >= {"shop-example-com"}


def test_set_config_merges_and_reports_no_change_as_none(panel_client):
    changed = panel_client.set_limits("blog", memory={"web": "128M"})
    assert changed is not None and changed.memory["web"] == "128M"
    assert panel_client.set_limits("blog", memory={"web": "128M"}) is None  # 409 "changed nothing"


def test_errors_carry_cluster_call_and_the_controllers_words(panel_client, sandbox):
    with pytest.raises(DeisError, match=r"Deis eu-prod: config of nothing-here failed: HTTP 404: No App matches"):
        panel_client.get_config("nothing-here")
    with pytest.raises(DeisError, match=r"memory"):
        panel_client.set_limits("blog", memory={"web": "lots"})
    stranger = DeisClient("eu-prod", sandbox.deis_url("eu-prod"), "not-a-token")
    with pytest.raises(DeisError, match=r"HTTP 401: Invalid token"):
        stranger.list_apps()
    with pytest.raises(DeisError, match=r"HTTP 401"):
        stranger.get_app("shop")  # a bad token is an error, not an app it merely cannot see


def test_a_developer_token_sees_only_own_and_shared_apps(sandbox):
    alice = DeisClient("eu-prod", sandbox.deis_url("eu-prod"), sandbox.deis["eu-prod"].token_for("alice"))
    assert alice.whoami().username == "alice"
    assert sorted(app.id for app in alice.list_apps()) == ["billing", "blog", "shop"]
    assert alice.get_app("reports") is None


def test_unreachable_controller_is_a_clear_error():
    client = DeisClient("gone", "http://127.0.0.1:9", "token", retries=0)
    with pytest.raises(DeisError, match=r"Deis gone: list apps failed: controller unreachable"):
        client.list_apps()


# -- who the panel is -------------------------------------------------------------------------------------------
def client_as(sandbox, user: str, **kwargs) -> DeisClient:
    simulator = sandbox.deis["eu-prod"]
    return DeisClient("eu-prod", sandbox.deis_url("eu-prod"), simulator.token_for(user),
                      username=simulator.panel_username, **kwargs)


def test_the_panels_user_must_be_a_superuser_and_the_configured_one(sandbox):
    assert client_as(sandbox, "admin-panel").ensure_panel_user().username == "admin-panel"
    rule = "the cluster's Deis user must be a superuser owning the certificates"
    with pytest.raises(DeisError) as plain:
        client_as(sandbox, "alice").ensure_panel_user()
    assert str(plain.value) == (f"Deis eu-prod: check of the panel's Deis user failed: {rule}: token belongs to "
                                "'alice' (not superuser; the configured username is 'admin-panel')")
    with pytest.raises(DeisError) as other_admin:
        client_as(sandbox, "carol").ensure_panel_user()  # a superuser, but Deis would hide the panel's certificates
    assert other_admin.value.reason == f"{rule}: token belongs to 'carol' (the configured username is 'admin-panel')"


# -- listings ---------------------------------------------------------------------------------------------------
class Recorder:
    """A loopback HTTP server that records every request it receives (the 'other host' a proxy's link names)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str | None]] = []

    def __call__(self, environ, start_response):
        self.requests.append((environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""),
                              environ.get("HTTP_AUTHORIZATION")))
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"count": 0, "next": null, "previous": null, "results": []}']


@pytest.fixture
def other_host():
    recorder = Recorder()
    with serve_wsgi(recorder) as url:
        yield recorder, url


def test_next_links_behind_a_proxy_are_followed_on_the_configured_host_only(sandbox, panel_client, other_host):
    recorder, other_url = other_host
    sandbox.deis["eu-prod"].set_switches(behind_proxy=other_url)
    first_page = requests.get(f"{sandbox.deis_url('eu-prod')}/v2/apps?limit=2", timeout=10, headers={
        "Authorization": f"token {sandbox.deis['eu-prod'].token_for('admin-panel')}"}).json()
    assert first_page["next"].startswith(other_url)  # the switch is on: the link names the other host

    assert sorted(app.id for app in panel_client.list_apps()) == ["billing", "blog", "reports", "shop"]
    assert recorder.requests == []  # the token never left for the host in the link


def test_a_listing_short_of_its_count_is_read_again_then_refused(sandbox, panel_client):
    sandbox.deis["eu-prod"].set_switches(drop_per_page=1)
    with pytest.raises(DeisError) as refused:
        panel_client.list_apps()
    assert refused.value.reason.startswith("the listing is not whole, twice running (2 results for a count of 4;")
    assert panel_client.calls == 4  # two pages, twice


def delete_after_first_page(sandbox, app_ids: list[str]):
    """A response hook deleting the next app of `app_ids` (behind the client's back) after each first page."""

    def hook(response, *args, **kwargs):
        if response.request.path_url.endswith("/v2/apps?limit=2") and app_ids:
            sandbox.deis["eu-prod"].delete_app(app_ids.pop(0))
        return response

    return hook


def test_a_count_that_changes_mid_listing_is_read_again(sandbox, panel_client):
    panel_client.session.hooks["response"].append(delete_after_first_page(sandbox, ["blog"]))
    assert sorted(app.id for app in panel_client.list_apps()) == ["billing", "reports", "shop"]
    assert panel_client.calls == 4  # the first pass saw the count go from 4 to 3, the second was whole


def test_a_count_that_keeps_changing_is_refused(sandbox, panel_client):
    panel_client.session.hooks["response"].append(delete_after_first_page(sandbox, ["blog", "reports"]))
    with pytest.raises(DeisError, match=r"not whole, twice running \(count changed from 4 to 3 during the listing; "
                                        r"then count changed from 3 to 2"):
        panel_client.list_apps()


def test_an_app_gone_after_listing_is_told_apart_from_a_broken_route(sandbox, panel_client):
    sandbox.deis["eu-prod"].delete_app("blog")
    for read in (panel_client.get_config, panel_client.get_settings, panel_client.list_domains):
        with pytest.raises(DeisAppGone, match="HTTP 404: No App matches the given query"):
            read("blog")
    with pytest.raises(DeisError) as broken:
        panel_client.get_config("Not_An_App")  # no route matches: Django's HTML page, not the controller's word
    assert not isinstance(broken.value, DeisAppGone) and broken.value.status == 404


# -- config writes (each one deploys a release) -----------------------------------------------------------------
def releases(sandbox, app_id: str) -> int:
    return sandbox.deis["eu-prod"].app(app_id)["release_version"]


def test_set_config_sets_and_unsets_values_in_one_release(sandbox, panel_client):
    before = releases(sandbox, "shop")
    config = panel_client.set_config("shop", {"FEATURE_X": "on", "RAILS_ENV": None})
    assert config.values["FEATURE_X"] == "on" and "RAILS_ENV" not in config.values
    assert sandbox.deis["eu-prod"].app("shop")["config"]["values"] == config.values
    assert releases(sandbox, "shop") == before + 1
    assert panel_client.set_config("shop", {"FEATURE_X": "on"}) is None  # 409 "changed nothing - release stopped"
    assert releases(sandbox, "shop") == before + 1


@pytest.mark.parametrize("reset", [False, True])
def test_a_config_write_whose_answer_is_lost_applies_exactly_once(sandbox, panel_client, reset):
    before = releases(sandbox, "blog")
    sandbox.deis["eu-prod"].faults.configure(apply_then_fail_rate=1.0, apply_then_fail_reset=reset,
                                             path_contains="/config")
    config = panel_client.set_config("blog", {"WP_DEBUG": "false"})
    assert config is not None and config.values["WP_DEBUG"] == "false"
    assert releases(sandbox, "blog") == before + 1  # read back, not sent again
    assert panel_client.calls == 2  # the POST whose answer was lost, the GET that learnt it applied


def test_a_deploy_slower_than_the_write_timeout_is_read_back(sandbox):
    sandbox.deis["eu-prod"].set_switches(deploy_seconds=2)
    client = client_as(sandbox, "admin-panel", write_timeout=0.3)
    before = releases(sandbox, "blog")
    assert client.set_config("blog", {"CACHE": "on"}).values["CACHE"] == "on"
    assert releases(sandbox, "blog") == before + 1


def gateway(wsgi_app, *, lose_posts: int = 0, conflict: str | None = None):
    """A gateway in front of the simulator that loses config POSTs before they reach it (502), or answers a 409.

    Why not a fault switch: the injector's error_rate strikes reads too, and these tests need the read-back to work
    while the write is lost before it applied; the controller itself never answers such a 409 in the sandbox.
    """
    posts = {"seen": 0}

    def app(environ, start_response):
        if environ["REQUEST_METHOD"] == "POST" and environ.get("PATH_INFO", "").rstrip("/").endswith("/config"):
            posts["seen"] += 1
            if conflict is not None:
                start_response("409 Conflict", [("Content-Type", "application/json")])
                return [json.dumps({"detail": conflict}).encode()]
            if posts["seen"] <= lose_posts:
                start_response("502 Bad Gateway", [("Content-Type", "text/html")])
                return [b"<html><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></html>"]
        return wsgi_app(environ, start_response)

    return app


@contextlib.contextmanager
def through(sandbox, gateway_app) -> Iterator[DeisClient]:
    """A panel client of eu-prod whose requests pass through `gateway_app` on its own loopback server."""
    with serve_wsgi(gateway_app) as url:
        yield DeisClient("eu-prod", url, sandbox.deis["eu-prod"].token_for("admin-panel"), username="admin-panel")


def test_a_write_the_read_back_shows_unapplied_is_sent_again(sandbox):
    with through(sandbox, gateway(sandbox.deis["eu-prod"].wsgi_app, lose_posts=1)) as client:
        before = releases(sandbox, "blog")
        assert client.set_config("blog", {"WP_ENV": "staging"}).values["WP_ENV"] == "staging"
        assert releases(sandbox, "blog") == before + 1
        assert client.calls == 3  # POST lost before the controller, GET shows it did not apply, POST again


def test_a_write_never_applied_is_an_error_after_bounded_attempts(sandbox):
    with through(sandbox, gateway(sandbox.deis["eu-prod"].wsgi_app, lose_posts=99)) as client:
        with pytest.raises(DeisError, match=r"set config of blog failed: no answer after 3 attempts \(last: HTTP 502"
                                            r".*the write did not apply"):
            client.set_config("blog", {"WP_ENV": "staging"})
        assert client.calls == 6 and sandbox.deis["eu-prod"].app("blog")["config"]["values"]["WP_ENV"] == "production"


def test_a_409_is_changed_nothing_only_in_the_controllers_words(sandbox):
    conflict = "Deployment of blog failed: another deploy is in progress"
    with through(sandbox, gateway(sandbox.deis["eu-prod"].wsgi_app, conflict=conflict)) as client:
        with pytest.raises(DeisError) as refused:
            client.set_config("blog", {"WP_ENV": "staging"})
        assert refused.value.status == 409 and refused.value.reason == f"HTTP 409: {conflict}"


# -- TLS per cluster --------------------------------------------------------------------------------------------
@pytest.fixture
def https_controller(sandbox, tmp_path):
    """eu-prod's simulator served over HTTPS with a certificate from the sandbox CA; yields (url, CA bundle path)."""
    now = datetime.now(UTC)
    pem, key = make_certificate("localhost", ["localhost"], now - timedelta(days=1), now + timedelta(days=1))
    (tmp_path / "controller.pem").write_text(pem)
    (tmp_path / "controller.key").write_text(key)
    (tmp_path / "ca.pem").write_text(ca_certificate_pem())
    server = make_server("127.0.0.1", 0, sandbox.deis["eu-prod"].wsgi_app, threaded=True,
                         ssl_context=(str(tmp_path / "controller.pem"), str(tmp_path / "controller.key")))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"https://localhost:{server.server_port}", str(tmp_path / "ca.pem")
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.mark.filterwarnings("ignore:Unverified HTTPS request")
def test_tls_is_verified_against_the_clusters_ca_bundle(sandbox, https_controller):
    url, ca_bundle = https_controller
    token = sandbox.deis["eu-prod"].token_for("admin-panel")
    trusting_the_ca = DeisClient("eu-prod", url, token, username="admin-panel", verify=ca_bundle)
    assert trusting_the_ca.ensure_panel_user().username == "admin-panel"
    with pytest.raises(DeisError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        DeisClient("eu-prod", url, token, verify=True, retries=0).whoami()  # the system's CAs do not know it
    assert DeisClient("eu-prod", url, token, verify=False).whoami().username == "admin-panel"
