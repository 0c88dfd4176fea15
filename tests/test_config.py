"""Settings come from the environment; production refuses insecure ones with a message saying what to fix."""
from __future__ import annotations

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
                                  "DEIS_CLUSTERS": '[{"name": "a", "url": "https://deis.a.example.com", '
                                                   '"username": "panel", "token": "deis-secret-token", '
                                                   '"region": "eu", "aws_region": "eu-west-1"}]'})
    text = repr(settings)
    assert "cf-secret-token" not in text and "deis-secret-token" not in text and "x" * 40 not in text
