"""Sessions end when idle or too old, checked by the server on times it wrote; destructive actions want the password."""
from __future__ import annotations

import re

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, User
from app.operations import accounts
from tests.conftest import PASSWORD

MINUTE, HOUR = 60, 3600


def travel(client, **seconds_ago: int) -> None:
    """Move the stamps in the signed session back in time (what waiting that long would do)."""
    with client.session_transaction() as session:
        for stamp, seconds in seconds_ago.items():
            session[stamp] -= seconds


def token_of(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html)[1]


def actions(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_an_idle_session_is_ended_and_the_person_told_why(client, login_as):
    login_as("viewer")
    travel(client, seen_at=31 * MINUTE)
    response = client.get("/apps/?q=shop")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/apps/?q%3Dshop"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Your session expired after 30 minutes without activity; sign in again." in page
    assert client.get("/").status_code == 302  # the session is gone, not just this request refused


def test_activity_keeps_a_session_alive_until_its_absolute_limit(client, login_as):
    login_as("viewer")
    travel(client, seen_at=29 * MINUTE, signed_in_at=11 * HOUR)
    assert client.get("/").status_code == 200  # 29 idle minutes: still fine, and the visit counts as activity
    travel(client, seen_at=29 * MINUTE)
    assert client.get("/").status_code == 200
    travel(client, signed_in_at=HOUR + 1)  # now 12 hours and a second after signing in, however active
    response = client.get("/")
    assert response.status_code == 302
    assert "Your session reached its 12-hour limit; sign in again." in client.get("/login").get_data(as_text=True)


def test_a_stale_htmx_request_sends_the_page_to_sign_in(client, login_as):
    login_as("viewer")
    travel(client, seen_at=HOUR)
    response = client.get("/apps/?q=x", headers={"HX-Request": "true"})
    assert response.status_code == 401 and response.headers["HX-Redirect"] == "/login"


def test_a_session_cookie_without_the_stamps_is_not_honoured(client, login_as):
    login_as("viewer")
    with client.session_transaction() as session:
        del session["signed_in_at"]  # a cookie from before the stamps (or one pieced together) has none
    assert client.get("/").status_code == 302


def test_idle_and_lifetime_limits_come_from_the_settings(make_user, panel_with):
    make_user("bob", "viewer")
    panel = panel_with(session_idle_minutes=5, session_max_hours=1)
    browser = panel.test_client()
    page = browser.get("/login").get_data(as_text=True)
    assert browser.post("/login", data={"username": "bob", "password": PASSWORD,
                                        "csrf_token": token_of(page)}).status_code == 302
    travel(browser, seen_at=4 * MINUTE)
    assert browser.get("/").status_code == 200
    travel(browser, seen_at=6 * MINUTE)
    assert browser.get("/").status_code == 302
    assert "expired after 5 minutes" in browser.get("/login").get_data(as_text=True)


# Re-authentication before destructive actions: resetting a user's password here.

def reset(client, user_id: int, **fields):
    html = client.get("/users/").get_data(as_text=True)
    return client.post(f"/users/{user_id}/password", data={"csrf_token": token_of(html), **fields})


def test_a_destructive_action_asks_for_the_password_again_and_a_wrong_one_changes_nothing(client, login_as,
                                                                                          make_user):
    admin = login_as("admin")
    bob = make_user("bob", "viewer")
    bob_hash = bob.password_hash
    travel(client, reauth_at=6 * MINUTE)  # the password was entered at sign-in, more than 5 minutes ago

    prompt = reset(client, bob.id)
    assert prompt.status_code == 200
    page = prompt.get_data(as_text=True)
    assert "Confirm with your password" in page and 'name="reauth_password"' in page
    assert f'action="/users/{bob.id}/password"' in page  # the same action, carried out once confirmed
    assert not actions("user.reset_password")

    wrong = reset(client, bob.id, reauth_password="not my password")
    assert wrong.status_code == 401
    assert "Wrong password; nothing was changed." in wrong.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, bob.id).password_hash == bob_hash
    assert not actions("user.reset_password")
    [failure] = actions("auth.reauth_failed")
    assert failure.actor == admin.username

    confirmed = reset(client, bob.id, reauth_password=PASSWORD)
    assert confirmed.status_code == 200
    new_password = re.search(r'<code class="once">([^<]+)</code>', confirmed.get_data(as_text=True))[1]
    db.session.expire_all()
    assert accounts.authenticate(db.session, "bob", new_password) is not None
    assert accounts.authenticate(db.session, "bob", PASSWORD) is None
    assert len(actions("user.reset_password")) == 1 and len(actions("auth.reauth")) == 1

    # Within REAUTH_MINUTES the next destructive action goes straight through.
    again = reset(client, bob.id)
    assert again.status_code == 200 and 'class="once"' in again.get_data(as_text=True)
    assert len(actions("user.reset_password")) == 2


def test_wrong_passwords_at_the_prompt_are_slowed_down(client, login_as, make_user):
    login_as("admin")
    bob = make_user("bob", "viewer")
    travel(client, reauth_at=HOUR)
    # A delay long enough that a slow, loaded CI machine cannot outlive it between the requests below (the
    # default first delay is 2 seconds, which a busy runner once did).
    client.application.extensions["sign_in_throttle"].base_delay = 120
    statuses = [reset(client, bob.id, reauth_password=f"guess {n}").status_code for n in range(5)]
    assert statuses == [401, 401, 401, 401, 429]
    refused = reset(client, bob.id, reauth_password=PASSWORD)
    assert refused.status_code == 429  # the right password waits too while the delay runs
    assert "Too many wrong passwords" in refused.get_data(as_text=True)
    assert len(actions("auth.reauth_failed")) == 4 and not actions("user.reset_password")


def test_reauth_minutes_comes_from_the_settings(make_user, panel_with):
    make_user("root", "admin")
    bob = make_user("bob", "viewer")
    panel = panel_with(reauth_minutes=30)
    browser = panel.test_client()
    page = browser.get("/login").get_data(as_text=True)
    browser.post("/login", data={"username": "root", "password": PASSWORD, "csrf_token": token_of(page)})
    travel(browser, reauth_at=20 * MINUTE)
    assert 'class="once"' in reset(browser, bob.id).get_data(as_text=True)


def test_an_htmx_action_is_sent_to_the_prompt_and_back(client, login_as, make_user):
    login_as("admin")
    bob = make_user("bob", "viewer")
    travel(client, reauth_at=HOUR)
    html = client.get("/users/").get_data(as_text=True)
    response = client.post(f"/users/{bob.id}/password", headers={
        "HX-Request": "true", "X-CSRFToken": token_of(html), "HX-Current-URL": "http://localhost/users/?x=1"})
    assert response.headers["HX-Redirect"] == "/reauth?next=/users/?x%3D1"
    assert not actions("user.reset_password")
    prompt = client.get(response.headers["HX-Redirect"])
    assert "Confirm with your password" in prompt.get_data(as_text=True)
    confirmed = client.post(response.headers["HX-Redirect"],
                            data={"csrf_token": token_of(prompt.get_data(as_text=True)), "reauth_password": PASSWORD})
    assert confirmed.status_code == 302 and confirmed.headers["Location"] == "/users/?x=1"


def test_the_prompt_never_sends_anyone_off_site(client, login_as):
    login_as("admin")
    page = client.get("/reauth?next=//evil.example").get_data(as_text=True)
    response = client.post("/reauth?next=//evil.example", data={"csrf_token": token_of(page),
                                                                "reauth_password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_a_viewer_gets_403_not_a_prompt(client, login_as, make_user):
    login_as("viewer")
    bob = make_user("bob", "viewer")
    response = reset(client, bob.id, reauth_password=PASSWORD)
    assert response.status_code == 403
    assert not actions("user.reset_password") and not actions("auth.reauth")
