"""The one masking function: what it hides (by key and by value shape) and what it must leave readable."""
from __future__ import annotations

import logging

import pytest

from app import redaction
from app.redaction import MASK, KeyPolicy, is_secret, redact, redact_text

JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0"
       ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw\n-----END RSA PRIVATE KEY-----"

SECRET_BY_KEY = [
    "STRIPE_KEY", "RAILS_MASTER_KEY", "DB_PWD", "S3_ACCESS_KEY", "SECRET_KEY_BASE", "GITHUB_TOKEN", "DB_PASS",
    "SMTP_PASSWORD", "GOOGLE_CREDENTIALS", "PRIVATE_DATA", "SENTRY_DSN", "PASSWORD_SALT", "SIGNING_KEY",
    "CLIENT_CERT", "BASIC_AUTH", "COOKIE_NAME_SECRET", "SESSION_STORE_ID", "apikey", "db_password", "x-auth",
]
NOT_SECRET_BY_KEY = ["PLATFORM", "WEB_CONCURRENCY", "RACK_ENV", "DATABASE_URL", "PORT", "HOSTNAME", "LANG", "TZ"]

SECRET_VALUES = [
    "postgres://shop:hunter2@pg.prod-eu.test/shop",
    "redis://:password@cache.internal:6379/0",  # an empty user name still carries a password
    "https://ghp_abcdefTOKEN@github.com/acme/shop.git",  # a user part alone can be the token
    "amqp://guest:guest@mq:5672/",
    PEM,
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=",  # even a truncated one
    JWT,
    "AKIAIOSFODNN7EXAMPLE",
    "ASIAY34FZKBOKMUTVV7A",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",  # an AWS secret access key: 40 base64 characters
    "sk_live_51SeCrEtStRiPeKeYxx",
    "Xk9vQ2pL7mN4bR8sT1wY5zA3",
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",  # 64 hex digits
]
ORDINARY_VALUES = [
    "deis", "true", "false", "0", "8080", "3.14159", "production", "en_US.UTF-8", "Europe/Amsterdam",
    "ip-10-0-1-23.eu-west-1.compute.internal", "shop.example.com", "api.stripe.com",
    "https://shop.example.com/healthz", "postgres://pg.prod-eu.test:5432/shop", "redis://cache.internal:6379/0",
    "/app/vendor/bundle/ruby/3.2.0/bin:/usr/local/bin:/usr/bin", "/var/lib/storefront/uploads/cache",
    "The quick brown fox jumps over the lazy dog, twice a day.", "storefront_production_2024_backup_v3",
    "MyApplicationProductionServer42", "550e8400-e29b-41d4-a716-446655440000", "web: bundle exec puma -C config/puma.rb",
    "alice@example.com", "com.example.storefront.MainApplication", "v2024.10.01-build.1234-release-candidate",
]


@pytest.mark.parametrize("key", SECRET_BY_KEY)
def test_a_secret_name_masks_whatever_the_value(key):
    assert is_secret(key, "plain")


@pytest.mark.parametrize("key", NOT_SECRET_BY_KEY)
def test_an_ordinary_name_with_an_ordinary_value_is_shown(key):
    assert not is_secret(key, "plain value")


@pytest.mark.parametrize("value", SECRET_VALUES)
def test_a_secret_shaped_value_is_masked_under_an_innocent_name(value):
    assert is_secret("UPSTREAM", value)


@pytest.mark.parametrize("value", ORDINARY_VALUES)
def test_ordinary_values_are_not_masked(value):
    assert not is_secret("SETTING", value)


def test_operator_lists_extend_and_exempt_key_names():
    policy = KeyPolicy(secret_keys=("INTERNAL_ID", "LEGACY_*"), public_keys=("SESSION_STORE", "PUBLIC_SIGNING_KEY"))
    assert is_secret("internal_id", "42", policy) and is_secret("LEGACY_THING", "x", policy)
    assert not is_secret("SESSION_STORE", "redis", policy)
    assert not is_secret("PUBLIC_SIGNING_KEY", "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----", policy)
    assert is_secret("SESSION_STORE", "redis")  # without the exemption the name alone masks it


def test_the_audit_payload_is_redacted_recursively_and_keeps_prose_readable():
    payload = {"role": "admin", "password": "hunter2", "nested": [{"api_key": "k"}, {"url": "redis://:pw@h/0"}],
               "message": "connect to postgres://shop:hunter2@pg/shop failed", "count": 3, "token": None}
    assert redact(payload) == {
        "role": "admin", "password": MASK, "nested": [{"api_key": MASK}, {"url": MASK}],
        "message": f"connect to postgres://shop:{MASK}@pg/shop failed", "count": 3, "token": None,
    }


TEXT_CASES = [
    ("controller https://admin:pw-leaked-42@deis.test answered 503",
     f"controller https://admin:{MASK}@deis.test answered 503"),
    ("redis://:s3cr3t@cache:6379 refused", f"redis://:{MASK}@cache:6379 refused"),
    ("clone https://ghp_tok123@github.com/x failed", f"clone https://{MASK}@github.com/x failed"),
    ("postgres://u:p@ss@h/db", f"postgres://u:{MASK}@h/db"),  # an '@' inside the password
    ("sent Authorization: Bearer abc.def.ghi to the API", f"sent Authorization: Bearer {MASK} to the API"),
    ("headers {'Authorization': 'token 0123456789abcdef'}", f"headers {{'Authorization': 'token {MASK}'}}"),
    ("X-Auth-Token: tok-42 rejected", f"X-Auth-Token: {MASK} rejected"),
    ("GET /cb?access_token=abc123&page=2", f"GET /cb?access_token={MASK}&page=2"),
    ('{"password": "hunter2", "user": "bob"}', f'{{"password": "{MASK}", "user": "bob"}}'),
    (f"token {JWT} expired", f"token {MASK} expired"),
    ("key AKIAIOSFODNN7EXAMPLE is not authorised", f"key {MASK} is not authorised"),
    (f"bad key file: {PEM} (end)", f"bad key file: {MASK} (end)"),
]
TEXT_UNCHANGED = [
    "sync aws/eu-west-1 failed: instances page 3 answered 503",
    "https://shop.example.com/healthz answered 200 in 12 ms",
    "deis/prod-eu: controller answered 401: the token was refused; set a new one in DEIS_CLUSTERS",
    "Your session expired after 30 minutes without activity.",
]


@pytest.mark.parametrize("text, expected", TEXT_CASES)
def test_free_text_keeps_its_words_and_loses_its_secrets(text, expected):
    assert redact_text(text) == expected


@pytest.mark.parametrize("text", TEXT_UNCHANGED)
def test_free_text_without_secrets_is_unchanged(text):
    assert redact_text(text) == text


def test_the_app_factory_installs_the_log_redaction(app, caplog):
    # No direct install here: the panel app (built by create_app, as the worker's is) must have done it.
    with caplog.at_level(logging.INFO):
        logging.getLogger("app.views.auth").warning("callback to %s", "https://hook:pw-from-the-app@hooks.test/x")
    assert "pw-from-the-app" not in caplog.text and f"https://hook:{MASK}@hooks.test/x" in caplog.text


def test_log_records_are_redacted_in_message_args_and_traceback(caplog):
    redaction.install_log_redaction()
    log = logging.getLogger("app.some.module")  # a child logger: its records never pass the root logger's filters
    with caplog.at_level(logging.INFO):
        log.warning("connecting to %s with %r", "redis://:pw-in-args@cache:6379", {"password": "pw-in-dict"})
        try:
            raise RuntimeError("controller https://admin:pw-in-traceback@deis.test answered 503")
        except RuntimeError:
            log.exception("sync failed")
    text = caplog.text
    assert "pw-in-args" not in text and "pw-in-dict" not in text and "pw-in-traceback" not in text
    assert f"redis://:{MASK}@cache:6379" in text and f"https://admin:{MASK}@deis.test" in text
    assert "RuntimeError" in text  # the traceback is still there, minus the password
