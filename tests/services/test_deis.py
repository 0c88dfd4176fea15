"""The Deis client against the controller simulator: every page, the controller's own words in errors."""
from __future__ import annotations

import pytest

from app.services.deis import DeisClient, DeisError


@pytest.fixture
def panel_client(sandbox) -> DeisClient:
    panel = sandbox.deis["eu-prod"]
    return DeisClient("eu-prod", sandbox.deis_url("eu-prod"), panel.token_for(panel.panel_username), page_size=2)


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
