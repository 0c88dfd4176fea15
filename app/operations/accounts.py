"""Panel accounts: creating users, checking credentials, signing in and out (each audited)."""
from __future__ import annotations

import re
import secrets
from functools import cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import audit
from app.models import User, utcnow
from app.models.users import ROLES, USERNAME_MAX

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
MIN_PASSWORD = 12


@cache
def _dummy() -> User:
    """Verifying against a real hash for unknown users keeps both failures equally slow (no user enumeration by
    timing). Made on first use: at import it cost every process (each worker and CLI command) a password hash."""
    user = User(username="-", password_hash="")
    user.set_password(secrets.token_urlsafe(16))
    return user


class AccountError(ValueError):
    """A request about accounts that cannot be carried out; the message is shown as is."""


def create_user(
    session: Session, username: str, role: str, password: str | None = None, actor: object = None
) -> tuple[User, str]:
    """Create a user (generating a password when none is given); returns the user and the password."""
    username = username.strip().lower()
    if not USERNAME_PATTERN.match(username) or len(username) > USERNAME_MAX:
        raise AccountError(
            f"A username is 1 to {USERNAME_MAX} characters: lowercase letters, digits, '.', '_' or '-',"
            " starting with a letter or digit."
        )
    if role not in ROLES:
        raise AccountError(f"Role must be one of: {', '.join(ROLES)}.")
    if password is not None and len(password) < MIN_PASSWORD:
        raise AccountError(f"A password has at least {MIN_PASSWORD} characters.")
    if session.scalar(select(func.count()).select_from(User).where(User.username == username)):
        raise AccountError(f"A user called {username!r} already exists.")
    password = password or secrets.token_urlsafe(15)
    user = User(username=username, role=role)
    user.set_password(password)
    session.add(user)
    session.flush()
    audit.record(session, actor=actor, action="user.create", target=user, after={"username": username, "role": role})
    session.commit()
    return user, password


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The user these credentials belong to, or None (without telling which part was wrong)."""
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        _dummy().check_password(password)
        return None
    return user if user.check_password(password) else None


def record_sign_in(session: Session, user: User) -> None:
    """Note a successful sign-in on the user and in the audit log."""
    user.last_login_at = utcnow()
    audit.record(session, actor=user, action="auth.sign_in", target=user)
    session.commit()


def record_reauth(session: Session, user: User) -> None:
    """Note that the user entered their password again (before a destructive action)."""
    audit.record(session, actor=user, action="auth.reauth", target=user)
    session.commit()


def record_failed_reauth(session: Session, user: User) -> None:
    """Note a wrong password at a re-authentication prompt: someone may be using an unattended session."""
    audit.record(session, actor=user, action="auth.reauth_failed", target=user)
    session.commit()


def sign_out(session: Session, user: User) -> None:
    """Invalidate every session cookie of this user and note the sign-out."""
    user.rotate_session_token()
    audit.record(session, actor=user, action="auth.sign_out", target=user)
    session.commit()


def change_role(session: Session, user: User, role: str, actor: User) -> None:
    """Give `user` another role; an admin cannot demote themselves (someone must stay able to undo it)."""
    if role not in ROLES:
        raise AccountError(f"Role must be one of: {', '.join(ROLES)}.")
    if user.id == actor.id and role != "admin":
        raise AccountError("You cannot remove your own admin role; ask another administrator.")
    if user.role == role:
        raise AccountError(f"{user.username} is already {role}; nothing changed.")
    before = {"role": user.role}
    user.role = role
    user.rotate_session_token()  # open sessions pick up the new role only after signing in again
    audit.record(session, actor=actor, action="user.role", target=user, before=before, after={"role": role})
    session.commit()


def reset_password(session: Session, user: User, actor: object) -> str:
    """Set a new generated password, end the user's sessions, and return the password."""
    password = secrets.token_urlsafe(15)
    user.set_password(password)
    user.rotate_session_token()
    audit.record(session, actor=actor, action="user.reset_password", target=user)
    session.commit()
    return password


def _refuse_locking_out(session: Session, user: User, actor: object, doing: str) -> None:
    # Someone must stay able to sign in and undo it: not yourself, not the last admin who can still sign in.
    if isinstance(actor, User) and actor.id == user.id:
        raise AccountError(f"You cannot {doing} your own account; ask another administrator.")
    if user.is_admin and user.disabled_at is None:
        other_admins = session.scalar(
            select(func.count()).select_from(User)
            .where(User.role == "admin", User.disabled_at.is_(None), User.id != user.id)
        )
        if not other_admins:
            raise AccountError(f"{user.username} is the last active administrator: make another admin first.")


def disable_user(session: Session, user: User, actor: object) -> None:
    """Stop `user` from signing in and end their open sessions at once (the account and its history stay)."""
    if user.disabled_at is not None:
        raise AccountError(f"{user.username} is already disabled; nothing changed.")
    _refuse_locking_out(session, user, actor, "disable")
    user.disabled_at = utcnow()
    user.rotate_session_token()  # every cookie issued to them stops working on its next request
    audit.record(session, actor=actor, action="user.disable", target=user,
                 before={"disabled": False}, after={"disabled": True})
    session.commit()


def enable_user(session: Session, user: User, actor: object) -> None:
    """Let a disabled user sign in again (with the password they had)."""
    if user.disabled_at is None:
        raise AccountError(f"{user.username} is not disabled; nothing changed.")
    user.disabled_at = None
    audit.record(session, actor=actor, action="user.enable", target=user,
                 before={"disabled": True}, after={"disabled": False})
    session.commit()


def delete_user(session: Session, user: User, actor: object) -> None:
    """Remove the account; the audit log keeps what it did (events name actors, they do not point at rows)."""
    _refuse_locking_out(session, user, actor, "delete")
    audit.record(session, actor=actor, action="user.delete", target=user,
                 before={"username": user.username, "role": user.role,
                         "disabled": user.disabled_at is not None})
    session.delete(user)
    session.commit()


def find_user(session: Session, username: str) -> User:
    """The user called `username`, or an AccountError saying there is none."""
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise AccountError(f"No user called {username!r}.")
    return user
