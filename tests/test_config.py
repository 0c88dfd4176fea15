"""Settings come from the environment; production refuses insecure ones with a message saying what to fix."""
from __future__ import annotations

import re

import pytest

from app.config import ConfigError, Settings

SAFE = {"ADMIN_PANEL_ENV": "production", "SECRET_KEY": "x" * 40,
        "DATABASE_URL": "postgresql://panel@db/panel", "REDIS_URL": "redis://redis:6379/0",
        "DBAPI_SERVICE_KEY": "k" * 40, "DBAPI_CALLBACK_SECRET": "c" * 40}


def test_embedded_defaults_need_nothing(tmp_path):
    settings = Settings.from_env({"ADMIN_PANEL_INSTANCE_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'admin-panel.sqlite'}"
    assert settings.redis_url is None and not settings.production


@pytest.mark.parametrize("override, message", [
    ({"SECRET_KEY": ""}, "SECRET_KEY must be set"),
    ({"SECRET_KEY": "short"}, "SECRET_KEY must be set"),
    ({"DATABASE_URL": ""}, "DATABASE_URL must point at PostgreSQL"),
    ({"REDIS_URL": ""}, "REDIS_URL must be set"),
    ({"DBAPI_SERVICE_KEY": ""}, "DBAPI_SERVICE_KEY must be set"),
    ({"DBAPI_CALLBACK_SECRET": "dev-dbapi-callback-secret-change-me"}, "DBAPI_CALLBACK_SECRET must be set"),
    ({"PANEL_URL": "ftp://panel"}, "PANEL_URL must be an http"),
])
def test_production_refuses_insecure_settings(override, message):
    environ = {**SAFE, **override}
    environ = {key: value for key, value in environ.items() if value}
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(environ)


def test_production_with_safe_settings_starts_and_uses_secure_cookies():
    settings = Settings.from_env(SAFE)
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.flask_config()["SESSION_COOKIE_SECURE"] is True


@pytest.mark.parametrize("environ, message", [
    ({"DEIS_CLUSTERS": "[{nope"}, "DEIS_CLUSTERS is not valid JSON"),
    ({"DEIS_CLUSTERS": '{"name": "x"}'}, "DEIS_CLUSTERS must be a JSON list"),
    ({"SYNC_INTERVAL_MINUTES": "ten"}, "SYNC_INTERVAL_MINUTES must be a number, not 'ten'"),
])
def test_bad_values_get_clear_messages(environ, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(environ)


def test_secrets_are_not_in_the_settings_repr():
    settings = Settings.from_env({**SAFE, "CLOUDFLARE_API_TOKEN": "cf-secret-token",
                                  "DEIS_CLUSTERS": '[{"name": "a", "url": "https://deis.a.example.com", '
                                                   '"username": "panel", "token": "deis-secret-token", '
                                                   '"region": "eu", "aws_region": "eu-west-1"}]'})
    text = repr(settings)
    assert "cf-secret-token" not in text and "deis-secret-token" not in text and "x" * 40 not in text


# -- DEIS_CLUSTERS, validated at start-up ---------------------------------------------------------------------
def cluster(**overrides) -> dict:
    base = {"name": "eu", "url": "https://deis.eu.example.com", "username": "admin-panel",
            "token": "tok-0123456789", "region": "europe", "aws_region": "eu-west-1"}
    return {key: value for key, value in {**base, **overrides}.items() if value is not None}


def clusters_env(*clusters: dict, **extra: str) -> dict:
    import json

    return {"DEIS_CLUSTERS": json.dumps(list(clusters)), **extra}


@pytest.mark.parametrize("clusters, message", [
    ([cluster(url=None)], r"DEIS_CLUSTERS\[0\] \(eu\): url: missing \(required\)"),
    ([cluster(token=None)], r"DEIS_CLUSTERS\[0\] \(eu\): token: missing \(required\)"),
    ([cluster(username=None)], r"DEIS_CLUSTERS\[0\] \(eu\): username: missing \(required\)"),
    ([cluster(name=None)], r"DEIS_CLUSTERS\[0\]: name: missing \(required\)"),
    ([cluster(url="deis.eu.example.com")], r"url: must be the controller's http\(s\) address"),
    ([cluster(url="https://panel:pw@deis.example.com")], r"url: must not hold credentials"),
    ([cluster(verify_ssl=False)], r"\(eu\): verify_ssl: unknown key \(check its spelling\)"),
    ([cluster(verify_tls="sometimes")], r"verify_tls: Input should be a valid boolean"),
    ([cluster(read_timeout=0)], r"read_timeout: Input should be greater than 0"),
    ([cluster(connect_timeout="fast")], r"connect_timeout: Input should be a valid number"),
    ([cluster(ca_bundle="/nonexistent/ca.pem")], r"ca_bundle: no file /nonexistent/ca.pem"),
    ([cluster(timezone="Europe/Atlantis")], r"timezone: 'Europe/Atlantis' is not an IANA time zone"),
    ([cluster(kind="prod")], r"kind: Input should be 'production', 'staging' or 'monitoring'"),
    ([cluster(), cluster()], r"cluster 'eu' is defined 2 times"),
    ([cluster(monitored_from="us-mon")], r"\(eu\): monitored_from 'us-mon' is no cluster"),
    ([cluster(name="Bad Name")], r"DEIS_CLUSTERS\[0\] \(Bad Name\): name: a cluster name is lowercase"),
    ([1], r"DEIS_CLUSTERS must be a JSON list of cluster objects"),
])
def test_each_bad_cluster_setting_is_named_with_its_cluster(clusters, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(clusters_env(*clusters))


def test_every_problem_of_every_cluster_is_reported_at_once():
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(clusters_env(cluster(name="eu", token=None), cluster(name="us", url=None, read_timeout=-1)))
    message = str(refused.value)
    assert "DEIS_CLUSTERS[0] (eu): token: missing (required)" in message
    assert "DEIS_CLUSTERS[1] (us): url: missing (required)" in message
    assert "DEIS_CLUSTERS[1] (us): read_timeout: Input should be greater than 0" in message


def test_a_cluster_problem_never_echoes_a_token():
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(clusters_env(cluster(tokn="s3cret-deis-token", token=["s3cret-deis-token"])))
    assert "tokn: unknown key" in str(refused.value) and "token: Input should be a valid string" in str(refused.value)
    assert "s3cret" not in str(refused.value)


def test_ca_bundle_with_verify_tls_off_is_refused(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(ConfigError, match=r"\(eu\): ca_bundle is set but verify_tls is false"):
        Settings.from_env(clusters_env(cluster(ca_bundle=str(bundle), verify_tls=False)))


@pytest.mark.parametrize("value, message", [("slow", "must be a number, not 'slow'"), ("0", "must be more than 0")])
def test_write_timeout_must_be_a_positive_number(value, message):
    with pytest.raises(ConfigError, match=f"DEIS_WRITE_TIMEOUT_SECONDS {message}"):
        Settings.from_env({"DEIS_WRITE_TIMEOUT_SECONDS": value})


def test_per_cluster_tls_and_timeouts_reach_the_deis_client(tmp_path):
    from app.clients import PlatformClients

    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = Settings.from_env(clusters_env(
        cluster(ca_bundle=str(bundle), connect_timeout=2, read_timeout=9),
        cluster(name="lab", url="http://deis.lab.internal:8000/", verify_tls=False),
        DEIS_WRITE_TIMEOUT_SECONDS="120"))
    clients = PlatformClients(settings)
    eu, lab = clients.deis("eu"), clients.deis("lab")
    assert (eu.verify, eu.read_timeout, eu.write_timeout, eu.username) == (str(bundle), (2, 9), (2, 120), "admin-panel")
    assert (lab.verify, lab.read_timeout, lab.base_url) == (False, (5.0, 20.0), "http://deis.lab.internal:8000")
    assert clients.cluster_configs()[0]["token"] == "tok-0123456789"  # the sync layer's plain mapping
    assert settings.deis_write_timeout == 120 and Settings.from_env({}).deis_write_timeout == 300


def test_issue8_settings_have_safe_defaults(tmp_path):
    settings = Settings.from_env({"ADMIN_PANEL_INSTANCE_DIR": str(tmp_path)})
    assert settings.trusted_proxy_hops == 0  # no X-Forwarded-For is believed unless the operator says so
    assert (settings.session_idle_minutes, settings.session_max_hours, settings.reauth_minutes) == (30, 12, 5)
    assert settings.secret_config_keys == () and settings.public_config_keys == () and settings.assets == "cdn"


def test_issue8_settings_are_read(tmp_path):
    settings = Settings.from_env({
        "ADMIN_PANEL_INSTANCE_DIR": str(tmp_path), "TRUSTED_PROXY_HOPS": "2", "SESSION_IDLE_MINUTES": "10",
        "SESSION_MAX_HOURS": "8", "REAUTH_MINUTES": "2", "SECRET_CONFIG_KEYS": " INTERNAL_NOTE, LEGACY_* ,",
        "PUBLIC_CONFIG_KEYS": "SESSION_STORE", "ASSETS": "local",
    })
    assert settings.trusted_proxy_hops == 2 and settings.session_idle_minutes == 10
    assert settings.session_max_hours == 8 and settings.reauth_minutes == 2
    assert settings.secret_config_keys == ("INTERNAL_NOTE", "LEGACY_*")
    assert settings.public_config_keys == ("SESSION_STORE",) and settings.assets == "local"


@pytest.mark.parametrize("environ, message", [
    ({"ASSETS": "somewhere"}, "ASSETS must be one of cdn, local, not 'somewhere'"),
    ({"TRUSTED_PROXY_HOPS": "-1"}, "TRUSTED_PROXY_HOPS must be between 0 and 10"),
    ({"TRUSTED_PROXY_HOPS": "one"}, "TRUSTED_PROXY_HOPS must be a number, not 'one'"),
    ({"SESSION_IDLE_MINUTES": "0"}, "SESSION_IDLE_MINUTES must be at least 1, not 0"),
    ({"SESSION_MAX_HOURS": "-3"}, "SESSION_MAX_HOURS must be at least 1, not -3"),
    ({"REAUTH_MINUTES": "0"}, "REAUTH_MINUTES must be at least 1, not 0"),
])
def test_issue8_settings_refuse_impossible_values(tmp_path, environ, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings.from_env({"ADMIN_PANEL_INSTANCE_DIR": str(tmp_path), **environ})
