"""Settings come from the environment; production refuses insecure ones with a message saying what to fix."""
from __future__ import annotations

import re

import pytest

from app.config import ConfigError, Settings

SAFE = {"ADMIN_PANEL_ENV": "production", "SECRET_KEY": "x" * 40,
        "DATABASE_URL": "postgresql://panel@db/panel", "REDIS_URL": "redis://redis:6379/0"}


def test_embedded_defaults_need_nothing(tmp_path):
    settings = Settings.from_env({"ADMIN_PANEL_INSTANCE_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'admin-panel.sqlite'}"
    assert settings.redis_url is None and not settings.production


@pytest.mark.parametrize("override, message", [
    ({"SECRET_KEY": ""}, "SECRET_KEY must be set"),
    ({"SECRET_KEY": "short"}, "SECRET_KEY must be set"),
    ({"DATABASE_URL": ""}, "DATABASE_URL must point at PostgreSQL"),
    ({"REDIS_URL": ""}, "REDIS_URL must be set"),
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
                                  "DEIS_CLUSTERS": '[{"name": "a", "token": "deis-secret-token"}]'})
    text = repr(settings)
    assert "cf-secret-token" not in text and "deis-secret-token" not in text and "x" * 40 not in text


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
