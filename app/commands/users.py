"""`flask users ...`: manage panel accounts from a shell."""
from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from app.extensions import db
from app.models import User
from app.models.users import ROLES
from app.operations import accounts

users_cli = AppGroup("users", help="Manage panel users.")
CLI_ACTOR = "cli"


@users_cli.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
@click.option("--password", envvar="ADMIN_PANEL_NEW_PASSWORD", default=None,
              help="Password to set (or env ADMIN_PANEL_NEW_PASSWORD); generated and printed when omitted.")
@click.option("--if-missing", is_flag=True, help="Do nothing (exit 0) when the user already exists.")
def create(username: str, role: str, password: str | None, if_missing: bool) -> None:
    """Create a user; prints a generated password once when none is given."""
    if if_missing and db.session.scalar(select(User).where(User.username == username.strip().lower())):
        click.echo(f"User {username} already exists; nothing changed.")
        return
    try:
        user, password_used = accounts.create_user(db.session, username, role, password, actor=CLI_ACTOR)
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Created {user.role} {user.username}.")
    if password is None:
        click.echo(f"Password (shown once): {password_used}")


@users_cli.command("list")
def list_users() -> None:
    """List users and their roles."""
    for user in db.session.scalars(select(User).order_by(User.username)):
        state = "disabled" if user.disabled_at else "active"
        click.echo(f"{user.username}\t{user.role}\t{state}\tlast sign-in: {user.last_login_at or 'never'}")


@users_cli.command("reset-password")
@click.argument("username")
def reset_password(username: str) -> None:
    """Give a user a new generated password (printed once) and sign them out everywhere."""
    password = accounts.reset_password(db.session, _user(username), actor=CLI_ACTOR)
    click.echo(f"New password for {username.strip().lower()} (shown once): {password}")


@users_cli.command("disable")
@click.argument("username")
def disable(username: str) -> None:
    """Stop a user signing in and end their open sessions (not the last active admin)."""
    _change(username, accounts.disable_user, "Disabled {}: their sessions have ended.")


@users_cli.command("enable")
@click.argument("username")
def enable(username: str) -> None:
    """Let a disabled user sign in again."""
    _change(username, accounts.enable_user, "Enabled {}.")


@users_cli.command("delete")
@click.argument("username")
@click.confirmation_option(prompt="Delete this user? The audit log keeps what they did.")
def delete(username: str) -> None:
    """Delete a user (not the last active admin); the audit log keeps their history."""
    _change(username, accounts.delete_user, "Deleted {}.")


def _user(username: str) -> User:
    try:
        return accounts.find_user(db.session, username)
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from error


def _change(username: str, change, done: str) -> None:
    user = _user(username)
    name = user.username
    try:
        change(db.session, user, actor=CLI_ACTOR)
    except accounts.AccountError as error:
        raise click.ClickException(str(error)) from error
    click.echo(done.format(name))
