"""Headers on every panel response, pinned assets (CDN or /static), no inline code, and checked request ids."""
from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent
from app.views.security_headers import HTMX, PICO
from tests import factories as make
from tests.conftest import PASSWORD

STATIC = Path(__file__).resolve().parents[2] / "app" / "static"
E2E_COPIES = Path(__file__).resolve().parents[1] / "e2e" / "assets"
CDN_POLICY = (
    "default-src 'none'; "
    "script-src 'self' https://cdn.jsdelivr.net/npm/htmx.org@2.0.11/dist/htmx.min.js; "
    "style-src 'self' https://cdn.jsdelivr.net/npm/@picocss/pico@2.1.1/css/pico.min.css; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'; frame-ancestors 'none'"
)


def sri(path: Path) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()


def token_of(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html)[1]


@pytest.fixture
def pages(db_session, login_as):
    admin = login_as("admin")
    shop = make.app(db_session, "shop", make.cluster(db_session, "prod-eu"), config_values={"API_TOKEN": "x"})
    db_session.commit()
    return ["/", "/apps/", f"/apps/{shop.id}", "/users/", "/sync/", "/audit/", "/instances/", "/dns/",
            "/search?q=shop", f"/users/{admin.id}", "/static/panel.css", "/static/panel.js",
            "/apps/?q=shop"]


def test_every_response_carries_the_security_headers(client, pages):
    for path in pages:
        for headers in ({}, {"HX-Request": "true"}):
            response = client.get(path, headers=headers)
            assert response.headers["Content-Security-Policy"] == CDN_POLICY, path
            assert response.headers["X-Content-Type-Options"] == "nosniff", path
            assert response.headers["Referrer-Policy"] == "same-origin", path
            assert "Strict-Transport-Security" not in response.headers  # plain HTTP in development
    anonymous = client.post("/logout", data={"csrf_token": token_of(client.get("/").get_data(as_text=True))})
    assert anonymous.headers["Content-Security-Policy"] == CDN_POLICY  # redirects too


def test_no_page_needs_inline_script_or_style(client, pages):
    for path in pages:
        if path.startswith("/static/"):
            continue
        html = client.get(path).get_data(as_text=True)
        assert not re.search(r"<style", html), path
        assert not re.search(r"\sstyle=", html), path
        assert not re.search(r"<script(?![^>]*\ssrc=)", html), path  # every script is a file
        assert not re.search(r"\son[a-z]+=|hx-on|javascript:", html), path


def test_production_adds_hsts(make_user, panel_with):
    panel = panel_with(env="production")
    response = panel.test_client().get("/login")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert response.headers["Content-Security-Policy"] == CDN_POLICY


def test_pages_link_the_pinned_cdn_files_with_their_hashes(client):
    html = client.get("/login").get_data(as_text=True)
    assert f'src="{HTMX.cdn_url}" integrity="{HTMX.integrity}" crossorigin="anonymous"' in html
    assert f'href="{PICO.cdn_url}" integrity="{PICO.integrity}" crossorigin="anonymous"' in html
    assert '"allowEval": false' in html and '"includeIndicatorStyles": false' in html


def test_vendored_files_are_the_pinned_ones(client):
    for asset, copy in ((HTMX, "htmx.min.js"), (PICO, "pico.min.css")):
        vendored = STATIC / asset.static_path
        assert sri(vendored) == asset.integrity
        assert vendored.read_bytes() == (E2E_COPIES / copy).read_bytes()


def test_assets_local_serves_the_same_files_from_static(make_user, panel_with):
    make_user("alice", "viewer")
    panel = panel_with(assets="local")
    browser = panel.test_client()
    html = browser.get("/login").get_data(as_text=True)
    assert "cdn.jsdelivr.net" not in html
    for asset in (HTMX, PICO):
        url = f"/static/{asset.static_path}"
        assert f'"{url}" integrity="{asset.integrity}"' in html
        served = browser.get(url)
        assert served.status_code == 200
        assert "sha384-" + base64.b64encode(hashlib.sha384(served.data).digest()).decode() == asset.integrity
    policy = browser.get("/login").headers["Content-Security-Policy"]
    assert "cdn.jsdelivr.net" not in policy and "script-src 'self';" in policy and "style-src 'self';" in policy


# Request ids: a client's X-Request-ID only when it is plainly an id.

HOSTILE_IDS = [
    "request-1\nforged log line",  # a newline: a forged log line
    "a" * 65,
    "réquest-1",
    "<script>alert(1)</script>",
    "id with spaces",
    "abc\r\nX-Injected: 1",
    "",
    "../../etc/passwd",
    "request;id=forged",
]


def sign_in_with_request_id(client, request_id: str):
    token = token_of(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token},
                       environ_overrides={"HTTP_X_REQUEST_ID": request_id})


@pytest.mark.parametrize("request_id", HOSTILE_IDS)
def test_a_hostile_request_id_is_replaced_and_never_stored(client, make_user, request_id):
    make_user("alice", "admin")
    response = sign_in_with_request_id(client, request_id)
    assert response.status_code == 302
    answered = response.headers["X-Request-ID"]
    assert answered != request_id and re.fullmatch(r"[0-9a-f]{32}", answered)
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.sign_in")).one()
    assert event.request_id == answered


@pytest.mark.parametrize("request_id", ["a", "req-42", "Trace_ID.0001-x", "A" * 64])
def test_a_well_formed_request_id_is_kept(client, make_user, request_id):
    make_user("alice", "admin")
    response = sign_in_with_request_id(client, request_id)
    assert response.headers["X-Request-ID"] == request_id
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.sign_in")).one()
    assert event.request_id == request_id
