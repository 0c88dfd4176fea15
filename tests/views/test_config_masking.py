"""An app's config on its page: secrets masked on the server for everyone; one click (audited) shows one to an admin."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent
from tests import factories as make
from tests.conftest import PASSWORD

JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzaG9wLXdvcmtlciIsInJvbGUiOiJhZG1pbiJ9"
       ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
SECRETS = {
    "STRIPE_KEY": "rk_live_stripe_value_1",
    "RAILS_MASTER_KEY": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "DB_PWD": "db-pwd-value-2",
    "S3_ACCESS_KEY": "s3-access-value-3",
    "CACHE": "redis://:password-in-url-4@cache.internal:6379/0",  # innocent name, credentials in the value
    "WORKER_IDENTITY": JWT,  # innocent name, a JWT
    "UPSTREAM_KEYS": "AKIAIOSFODNN7EXAMPLE",
}
PLAIN = {"PLATFORM": "deis", "WEB_CONCURRENCY": "3", "APP_HOST": "shop.example.com",
         "HEALTH_URL": "https://shop.example.com/healthz", "RACK_ENV": "production"}


@pytest.fixture
def shop(db_session):
    shop = make.app(db_session, "shop", make.cluster(db_session, "prod-eu"), config_values={**SECRETS, **PLAIN})
    db_session.commit()
    return shop


def config_section(html: str) -> str:
    return html[html.index('id="config"'):html.index('id="limits"')]


def token_of(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html)[1]


def test_a_viewer_never_receives_a_secret_value(client, login_as, shop):
    login_as("viewer")
    html = client.get(f"/apps/{shop.id}").get_data(as_text=True)
    for value in SECRETS.values():
        assert value not in html
    for fragment in ("password-in-url", "eyJhbGci", "AKIAIOSFODNN7", "rk_live", "db-pwd"):
        assert fragment not in html
    config = config_section(html)
    for key in SECRETS:
        row = config[config.index(f"<code>{key}</code>"):].split("</tr>")[0]
        assert "••••••" in row, key
    for key, value in PLAIN.items():
        assert f"<code>{value}</code>" in config, key  # ordinary values stay readable
    assert "Reveal" not in config  # no reveal button for a viewer


def test_an_admin_reveals_one_value_and_the_audit_log_has_the_key_not_the_value(client, login_as, shop):
    admin = login_as("admin")
    html = client.get(f"/apps/{shop.id}").get_data(as_text=True)
    assert SECRETS["STRIPE_KEY"] not in html and 'aria-label="Reveal STRIPE_KEY"' in html
    response = client.post(f"/apps/{shop.id}/config/reveal", data={"key": "STRIPE_KEY"},
                           headers={"HX-Request": "true", "X-CSRFToken": token_of(html)})
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert SECRETS["STRIPE_KEY"] in fragment and SECRETS["DB_PWD"] not in fragment  # that one value only
    assert response.headers["Cache-Control"] == "no-store"
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "config.reveal"))
    assert event.actor == admin.username and event.target == "shop" and event.after == {"variable": "STRIPE_KEY"}
    row = json.dumps([event.before, event.after, event.target, event.actor, event.action])
    assert SECRETS["STRIPE_KEY"] not in row


def test_a_viewer_cannot_reveal_and_nothing_is_recorded(client, login_as, shop):
    login_as("viewer")
    token = token_of(client.get(f"/apps/{shop.id}").get_data(as_text=True))
    response = client.post(f"/apps/{shop.id}/config/reveal", data={"key": "STRIPE_KEY"},
                           headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 403 and SECRETS["STRIPE_KEY"] not in response.get_data(as_text=True)
    assert not db.session.scalars(select(AuditEvent).where(AuditEvent.action == "config.reveal")).all()


def test_reveal_without_the_csrf_token_or_of_an_unknown_key_is_refused(client, login_as, shop):
    login_as("admin")
    forged = client.post(f"/apps/{shop.id}/config/reveal", data={"key": "STRIPE_KEY"}, headers={"HX-Request": "true"})
    assert forged.status_code == 400 and SECRETS["STRIPE_KEY"] not in forged.get_data(as_text=True)
    token = token_of(client.get(f"/apps/{shop.id}").get_data(as_text=True))
    missing = client.post(f"/apps/{shop.id}/config/reveal", data={"key": "NOPE"},
                          headers={"HX-Request": "true", "X-CSRFToken": token})
    assert missing.status_code == 404
    assert not db.session.scalars(select(AuditEvent).where(AuditEvent.action == "config.reveal")).all()


def test_reveal_asks_for_the_password_once_the_sign_in_is_old(client, login_as, shop):
    login_as("admin")
    with client.session_transaction() as session:
        session["reauth_at"] -= 3600
    token = token_of(client.get(f"/apps/{shop.id}").get_data(as_text=True))
    response = client.post(f"/apps/{shop.id}/config/reveal", data={"key": "STRIPE_KEY"}, headers={
        "HX-Request": "true", "X-CSRFToken": token, "HX-Current-URL": f"http://localhost/apps/{shop.id}"})
    assert response.headers["HX-Redirect"] == f"/reauth?next=/apps/{shop.id}"
    assert SECRETS["STRIPE_KEY"] not in response.get_data(as_text=True)
    prompt = client.get(response.headers["HX-Redirect"]).get_data(as_text=True)
    client.post(response.headers["HX-Redirect"], data={"csrf_token": token_of(prompt), "reauth_password": PASSWORD})
    again = client.post(f"/apps/{shop.id}/config/reveal", data={"key": "STRIPE_KEY"},
                        headers={"HX-Request": "true", "X-CSRFToken": token})
    assert SECRETS["STRIPE_KEY"] in again.get_data(as_text=True)


def test_operators_extend_and_exempt_key_names(db_session, make_user, panel_with):
    app_row = make.app(db_session, "billing", make.cluster(db_session, "prod-us"),
                       config_values={"INTERNAL_NOTE": "not-for-viewers", "SESSION_STORE": "redis", "PORT": "5000"})
    db_session.commit()
    make_user("vera", "viewer")
    panel = panel_with(secret_config_keys=("INTERNAL_NOTE",), public_config_keys=("SESSION_STORE",))
    browser = panel.test_client()
    page = browser.get("/login").get_data(as_text=True)
    browser.post("/login", data={"username": "vera", "password": PASSWORD, "csrf_token": token_of(page)})
    config = config_section(browser.get(f"/apps/{app_row.id}").get_data(as_text=True))
    assert "not-for-viewers" not in config  # SECRET_CONFIG_KEYS
    assert "<code>redis</code>" in config  # PUBLIC_CONFIG_KEYS: SESSION would mask it otherwise
    assert "<code>5000</code>" in config
