"""`flask users ...` as an operator runs it."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, User


def test_create_prints_a_generated_password_once_and_audits(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "Ops-Admin", "--role", "admin"])
    assert result.exit_code == 0, result.output
    assert "Created admin ops-admin." in result.output
    password = result.output.split("Password (shown once):")[1].strip()
    user = db.session.scalar(select(User).where(User.username == "ops-admin"))
    assert user.check_password(password) and user.role == "admin"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.create"))
    assert event.actor == "cli" and event.after == {"username": "ops-admin", "role": "admin"}


def test_bad_input_is_refused_and_changes_nothing(app):
    runner = app.test_cli_runner()
    runner.invoke(args=["users", "create", "alice", "--role", "viewer"])
    again = runner.invoke(args=["users", "create", "alice"])
    assert again.exit_code == 1 and "A user called 'alice' already exists." in again.output
    bad_name = runner.invoke(args=["users", "create", "bad name!"])
    assert bad_name.exit_code == 1 and "A username is 1 to 64 characters" in bad_name.output
    bad_role = runner.invoke(args=["users", "create", "bob", "--role", "root"])
    assert bad_role.exit_code == 2
    assert db.session.scalars(select(User.username)).all() == ["alice"]


def test_reset_password_gives_a_new_one_and_ends_sessions(app):
    runner = app.test_cli_runner()
    runner.invoke(args=["users", "create", "alice", "--role", "admin", "--password", "first password 123"])
    user = db.session.scalar(select(User).where(User.username == "alice"))
    old_token = user.session_token
    result = runner.invoke(args=["users", "reset-password", "alice"])
    password = result.output.split("(shown once):")[1].strip()
    db.session.expire_all()
    user = db.session.scalar(select(User).where(User.username == "alice"))
    assert user.check_password(password) and not user.check_password("first password 123")
    assert user.session_token != old_token
    missing = runner.invoke(args=["users", "reset-password", "nobody"])
    assert missing.exit_code == 1 and "No user called 'nobody'." in missing.output
