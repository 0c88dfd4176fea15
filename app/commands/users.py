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
        click.echo(f"{user.username}\t{user.role}\tlast sign-in: {user.last_login_at or 'never'}")


@users_cli.command("reset-password")
@click.argument("username")
def reset_password(username: str) -> None:
    """Give a user a new generated password (printed once) and sign them out everywhere."""
    user = db.session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise click.ClickException(f"No user called {username!r}.")
    password = accounts.reset_password(db.session, user, actor=CLI_ACTOR)
    click.echo(f"New password for {user.username} (shown once): {password}")
