"""Signing in and out, bad input, rate limiting, CSRF and session handling."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, User
from tests.conftest import PASSWORD, csrf_token_from


def sign_in(client, username: str, password: str, token: str | None = None):
    data = {"username": username, "password": password}
    data["csrf_token"] = token if token is not None else csrf_token_from(client)
    return client.post("/login", data=data)


def audit_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


def test_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_sign_in_shows_home_and_is_audited(client, make_user):
    make_user("alice", "admin")
    response = sign_in(client, "alice", PASSWORD)
    assert response.status_code == 302
    home = client.get("/")
    assert home.status_code == 200
    page = home.get_data(as_text=True)
    assert "Needs attention" in page and "alice" in page
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.sign_in")).one()
    assert event.actor == "alice" and event.target == "alice" and event.request_id
    assert db.session.scalar(select(User.last_login_at).where(User.username == "alice")) is not None


def test_wrong_password_and_unknown_user_get_the_same_clear_message_and_change_nothing(client, make_user):
    make_user("alice", "admin")
    before = audit_count()
    for username, password in (("alice", "wrong password!"), ("nobody", PASSWORD)):
        response = sign_in(client, username, password)
        assert response.status_code == 401
        assert "Unknown username or wrong password." in response.get_data(as_text=True)
    assert audit_count() == before
    assert client.get("/").status_code == 302  # still signed out


def test_empty_fields_get_clear_messages(client, make_user):
    make_user("alice", "admin")
    response = sign_in(client, "", "")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Enter your username." in page and "Enter your password." in page


def test_over_long_username_is_refused_with_a_message(client, make_user):
    make_user("alice", "admin")
    before = audit_count()
    response = sign_in(client, "a" * 500, PASSWORD)
    assert response.status_code == 400
    assert "A username has at most 64 characters." in response.get_data(as_text=True)
    assert audit_count() == before


def test_repeated_failed_sign_ins_are_rate_limited_but_a_success_does_not_count(client, make_user):
    make_user("alice", "admin")
    for _ in range(3):
        assert sign_in(client, "alice", PASSWORD).status_code == 302
        client.post("/logout", data={"csrf_token": csrf_token_from_home(client)})
    statuses = [sign_in(client, "alice", "nope nope nope").status_code for _ in range(5)]
    # Three typos are free; the fourth starts the growing delay of this (address, username) pair.
    assert statuses == [401, 401, 401, 401, 429]
    limited = sign_in(client, "alice", PASSWORD)
    assert limited.status_code == 429  # even the right password waits: otherwise guessing would go on
    assert "Too many failed sign-ins for this username from your address" in limited.get_data(as_text=True)
    assert int(limited.headers["Retry-After"]) > 0


def test_failed_sign_ins_from_one_address_are_limited_overall_whatever_the_username(client, make_user):
    make_user("alice", "admin")
    statuses = [sign_in(client, f"guess-{number}", "nope nope nope").status_code for number in range(6)]
    assert statuses == [401] * 5 + [429]  # LOGIN_RATE_LIMIT: 5 wrong passwords a minute per address
    assert "Too many attempts" in sign_in(client, "alice", PASSWORD).get_data(as_text=True)


def csrf_token_from_home(client) -> str:
    html = client.get("/").get_data(as_text=True)
    marker = 'name="csrf-token" content="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def test_post_without_csrf_token_is_rejected(client, make_user):
    make_user("alice", "admin")
    response = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_htmx_request_carries_csrf_in_header(client, login_as):
    login_as("admin")
    token = csrf_token_from_home(client)
    assert client.post("/logout", headers={"X-CSRFToken": token, "HX-Request": "true"}).status_code == 302
    assert client.get("/").status_code == 302


def test_logout_invalidates_old_session_cookie(app, make_user):
    make_user("alice", "admin")
    browser = app.test_client()
    assert sign_in(browser, "alice", PASSWORD).status_code == 302
    stolen_cookie = browser.get_cookie("session").value
    assert browser.post("/logout", data={"csrf_token": csrf_token_from_home(browser)}).status_code == 302
    replay = app.test_client()
    replay.set_cookie("session", stolen_cookie)
    assert replay.get("/").status_code == 302  # the cookie from before sign-out no longer signs anybody in
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "auth.sign_out")) == 1


def test_session_cookie_flags_and_new_session_at_sign_in(client, make_user):
    make_user("alice", "admin")
    client.get("/login")
    before = client.get_cookie("session")
    response = sign_in(client, "alice", PASSWORD)
    cookie_header = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie_header and "SameSite=Lax" in cookie_header
    assert client.get_cookie("session").value != (before.value if before else None)


# `next` exactly as it would appear in the address (already percent-encoded where a browser would encode it).
HOSTILE_NEXT = [
    "https://evil.example/",
    "//evil.example",
    "/%5Cevil.example",  # a backslash: browsers read /\evil.example as //evil.example
    "%5C%5Cevil.example",
    "/%09/evil.example",  # the reported one: a tab browsers drop, leaving //evil.example
    "/%2509/evil.example",  # the same, encoded twice
    "/%2F%2Fevil.example",  # encoded slashes that normalise into //evil.example
    "/%252F%252Fevil.example",
    "/%2f/evil.example",
    "https:evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(document.cookie)",
    "/%0D%0ASet-Cookie:%20pwned=1",  # CR/LF: header injection, which used to answer 500
    "/%0Aevil",
    "%20//evil.example",
    "/%00/evil.example",
    "/%E2%80%8B/evil.example",  # a zero-width space
    "data:text/html,%3Cscript%3Ealert(1)%3C/script%3E",
    "evil.example",
    "http://evil.example%40panel.test/",
    "%2F%2Fevil.example",
    "/%5C/evil.example",
]


@pytest.mark.parametrize("raw_next", HOSTILE_NEXT)
def test_sign_in_never_redirects_off_site(client, make_user, raw_next):
    make_user("alice", "admin")
    token = csrf_token_from(client)
    response = client.post(f"/login?next={raw_next}", data={"username": "alice", "password": PASSWORD,
                                                             "csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"  # home: the only answer to a next that is not plainly ours
    assert client.get("/").status_code == 200  # and the sign-in itself went through


@pytest.mark.parametrize("raw_next, location", [
    ("/apps/", "/apps/"),
    ("%2Fapps%2F%3Fq%3Dshop%26sort%3Dname", "/apps/?q=shop&sort=name"),
    ("/search?q=caf%C3%A9", "/search?q=caf%C3%A9"),
    ("/apps/%3Fq%3Da%252Fb", "/apps/?q=a%2Fb"),
])
def test_sign_in_returns_to_the_page_asked_for(client, make_user, raw_next, location):
    make_user("alice", "admin")
    token = csrf_token_from(client)
    response = client.post(f"/login?next={raw_next}", data={"username": "alice", "password": PASSWORD,
                                                             "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == location
