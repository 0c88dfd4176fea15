"""Disabling, enabling, deleting and resetting accounts from the Users page: admin only, re-authenticated, audited,
and a disabled (or deleted, or reset) user's open session is refused on its very next request."""
from __future__ import annotations

import re

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, User
from app.operations import accounts
from tests import factories as make
from tests.conftest import PASSWORD, csrf_token_from

MINUTE = 60


def token_of(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html)[1]


def sign_in(client, username: str, password: str = PASSWORD):
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_token_from(client)})


def post(client, path: str, **form):
    token = token_of(client.get("/users/").get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **form})


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def fresh(user: User) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


def test_a_disabled_users_open_session_is_refused_at_once_and_they_cannot_sign_in(app, client, login_as, make_user):
    admin = login_as("admin")
    bob = make_user("bob", "viewer")
    bobs_browser = app.test_client()
    assert sign_in(bobs_browser, "bob").status_code == 302
    assert bobs_browser.get("/").status_code == 200

    response = post(client, f"/users/{bob.id}/disable")
    assert response.status_code == 302
    page = client.get("/users/").get_data(as_text=True)
    assert "bob is disabled: their sessions have ended." in page
    assert re.search(r'id="user-%d".*?disabled</span>' % bob.id, page, re.S)
    assert fresh(bob).disabled_at is not None

    # The very next request of bob's open session goes to the sign-in page.
    refused = bobs_browser.get("/")
    assert refused.status_code == 302 and refused.headers["Location"].startswith("/login")
    again = sign_in(bobs_browser, "bob")
    assert again.status_code == 403
    assert "This account is disabled; ask an administrator to enable it." in again.get_data(as_text=True)
    assert sign_in(bobs_browser, "bob", "a wrong password").status_code == 401  # nothing said without the password
    [event] = events("user.disable")
    assert (event.actor, event.target, event.before, event.after) == (
        admin.username, "bob", {"disabled": False}, {"disabled": True})

    assert post(client, f"/users/{bob.id}/enable").status_code == 302
    assert "bob can sign in again." in client.get("/users/").get_data(as_text=True)
    assert fresh(bob).disabled_at is None and len(events("user.enable")) == 1
    assert sign_in(bobs_browser, "bob").status_code == 302
    assert bobs_browser.get("/").status_code == 200


def test_deleting_a_user_ends_their_session_and_keeps_their_history(app, client, login_as, make_user):
    login_as("admin")
    carol = make_user("carol", "admin")
    carols_browser = app.test_client()
    sign_in(carols_browser, "carol")
    make_user("dave", "viewer", )  # something carol is the actor of, below
    accounts.disable_user(db.session, db.session.scalar(select(User).where(User.username == "dave")), actor=carol)

    assert post(client, f"/users/{carol.id}/delete").status_code == 302
    page = client.get("/users/").get_data(as_text=True)
    assert "carol is deleted; the audit log keeps what they did." in page
    assert db.session.scalar(select(User).where(User.username == "carol")) is None
    assert carols_browser.get("/").status_code == 302
    assert sign_in(carols_browser, "carol").status_code == 401
    [deleted] = events("user.delete")
    assert deleted.target == "carol" and deleted.before == {"username": "carol", "role": "admin", "disabled": False}
    assert events("user.disable")[0].actor == "carol"  # history survives the account
    assert 'carol' in client.get("/audit/?actor=carol").get_data(as_text=True)


def test_a_reset_password_ends_the_users_sessions_and_only_the_new_one_works(app, client, login_as, make_user):
    login_as("admin")
    erin = make_user("erin", "viewer")
    erins_browser = app.test_client()
    sign_in(erins_browser, "erin")
    response = post(client, f"/users/{erin.id}/password")
    new_password = re.search(r'<code class="once">([^<]+)</code>', response.get_data(as_text=True))[1]
    assert erins_browser.get("/").status_code == 302
    assert sign_in(erins_browser, "erin").status_code == 401
    assert sign_in(erins_browser, "erin", new_password).status_code == 302
    assert len(events("user.reset_password")) == 1


def test_no_one_disables_or_deletes_themselves(client, login_as):
    admin = login_as("admin")
    page = client.get("/users/").get_data(as_text=True)
    assert f'/users/{admin.id}/disable' not in page and f'/users/{admin.id}/delete' not in page
    for change in ("disable", "delete"):
        post(client, f"/users/{admin.id}/{change}")
        page = client.get("/users/").get_data(as_text=True)
        assert f"You cannot {change} your own account; ask another administrator." in page
    assert fresh(admin).disabled_at is None
    assert not events("user.disable") and not events("user.delete")


def test_the_last_active_admin_stays(app, make_user):
    root = make_user("root", "admin")
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["users", "disable", "root"])
    assert refused.exit_code == 1
    assert "root is the last active administrator: make another admin first." in refused.output
    assert runner.invoke(args=["users", "delete", "root", "--yes"]).exit_code == 1
    assert fresh(root).disabled_at is None
    # With a second admin the first may go; the second then is the last one.
    make_user("second", "admin")
    disabled = runner.invoke(args=["users", "disable", "root"])
    assert disabled.exit_code == 0 and "Disabled root: their sessions have ended." in disabled.output
    assert runner.invoke(args=["users", "delete", "second", "--yes"]).exit_code == 1
    listing = runner.invoke(args=["users", "list"]).output
    assert re.search(r"root\tadmin\tdisabled", listing) and re.search(r"second\tadmin\tactive", listing)
    assert runner.invoke(args=["users", "enable", "root"]).exit_code == 0
    assert runner.invoke(args=["users", "delete", "second", "--yes"]).output.strip() == "Deleted second."
    assert runner.invoke(args=["users", "disable", "ghost"]).output.strip().endswith("No user called 'ghost'.")


def test_account_changes_want_the_password_again(client, login_as, make_user):
    login_as("admin")
    frank = make_user("frank", "viewer")
    with client.session_transaction() as session:
        session["reauth_at"] -= 6 * MINUTE
    prompt = post(client, f"/users/{frank.id}/disable")
    assert prompt.status_code == 200 and 'name="reauth_password"' in prompt.get_data(as_text=True)
    assert fresh(frank).disabled_at is None
    assert post(client, f"/users/{frank.id}/disable", reauth_password=PASSWORD).status_code == 302
    assert fresh(frank).disabled_at is not None


def test_a_viewer_sees_why_the_controls_are_absent_and_cannot_use_them(client, login_as, make_user):
    login_as("viewer")
    grace = make_user("grace", "viewer")
    page = client.get("/users/").get_data(as_text=True)
    assert "Admins can add users, change roles, reset passwords, and disable or delete accounts" in page
    assert "/disable" not in page and "Reset password" not in page
    assert post(client, f"/users/{grace.id}/disable").status_code == 403
    assert post(client, f"/users/{grace.id}/delete").status_code == 403
    assert fresh(grace).disabled_at is None


def test_every_page_with_admin_controls_tells_a_viewer_why_they_are_absent(app, client, login_as, make_user,
                                                                           db_session):
    shop = make.app(db_session, "shop")
    db_session.commit()
    login_as("viewer")
    pages = {"/sync/": "Admins can run a sync", "/certificates/": "Admins can upload or replace certificates",
             "/limits/": "Admins can add, change and delete limit sets", "/change-sets/": "Admins can plan DNS changes",
             "/settings/api-clients": "Admins can add and revoke API clients",
             "/settings/internal-tools": "Admins can add and remove internal tools",
             f"/apps/{shop.id}": "Admins can change the health path",
             "/apps/": "Admins can turn monitoring on or off for many apps at once"}
    for path, sentence in pages.items():
        page = client.get(path).get_data(as_text=True)
        assert sentence in page, path
    make_user("root", "admin")
    admins_browser = app.test_client()
    sign_in(admins_browser, "root")
    for path, sentence in pages.items():
        assert sentence not in admins_browser.get(path).get_data(as_text=True), path
