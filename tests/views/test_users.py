"""A new (or reset) password is shown once, in the page body, and never travels in the session cookie."""
from __future__ import annotations

import re

from app.extensions import db
from app.operations import accounts


def token_of(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html)[1]


def session_contents(app, client) -> str:
    """The session cookie decoded as the server reads it (it is signed, not encrypted: anyone can do this)."""
    cookie = client.get_cookie("session")
    serializer = app.session_interface.get_signing_serializer(app)
    return repr(serializer.loads(cookie.value)) if cookie else ""


def test_a_new_users_password_is_in_the_page_once_and_never_in_the_cookie(app, client, login_as):
    login_as("admin")
    token = token_of(client.get("/users/").get_data(as_text=True))
    response = client.post("/users/", data={"username": "carol", "role": "viewer", "csrf_token": token})
    html = response.get_data(as_text=True)
    assert response.status_code == 201
    password = re.search(r'<code class="once">([^<]+)</code>', html)[1]
    assert html.count(password) == 1
    assert response.headers["Cache-Control"] == "no-store"
    assert accounts.authenticate(db.session, "carol", password) is not None
    assert password not in session_contents(app, client)
    assert "_flashes" not in session_contents(app, client)
    assert password not in client.get("/users/").get_data(as_text=True)  # gone once the page is left


def test_a_reset_password_is_in_the_page_once_and_never_in_the_cookie(app, client, login_as, make_user):
    login_as("admin")
    dave = make_user("dave", "viewer")
    token = token_of(client.get("/users/").get_data(as_text=True))
    response = client.post(f"/users/{dave.id}/password", data={"csrf_token": token})
    html = response.get_data(as_text=True)
    password = re.search(r'<code class="once">([^<]+)</code>', html)[1]
    assert response.status_code == 200 and html.count(password) == 1
    assert "dave" in html[html.index('id="new-password"'):]
    assert password not in session_contents(app, client)
    assert password not in client.get("/users/").get_data(as_text=True)


def test_a_refused_new_user_shows_why_and_no_password(client, login_as, make_user):
    login_as("admin")
    make_user("erin", "viewer")
    token = token_of(client.get("/users/").get_data(as_text=True))
    response = client.post("/users/", data={"username": "erin", "role": "viewer", "csrf_token": token})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "A user called &#39;erin&#39; already exists." in html and 'class="once"' not in html
