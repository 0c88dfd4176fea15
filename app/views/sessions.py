"""Session lifetime and re-authentication, enforced by the server on times it wrote itself.

The times live in the signed session cookie: the browser holds them but cannot change them, and every request
checks them. A session idle for `SESSION_IDLE_MINUTES`, or older than `SESSION_MAX_HOURS`, is ended and the person
is sent to the sign-in page with a message. `REAUTH_MINUTES` says how long a re-entered password counts for
actions behind `reauth_required`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, logout_user

from app.config import Settings
from app.extensions import db
from app.operations import accounts
from app.operations.sign_in_throttle import SignInThrottle
from app.views.htmx import is_htmx_partial
from app.views.safe_redirect import local_path

SIGNED_IN_AT, SEEN_AT, REAUTH_AT = "signed_in_at", "seen_at", "reauth_at"
SEEN_RESOLUTION_SECONDS = 15  # rewriting the cookie on every request of a polling page buys nothing


def _settings() -> Settings:
    return current_app.config["SETTINGS"]


def now() -> float:
    """The current time as the sessions see it (one place for tests to move)."""
    return current_app.extensions["session_clock"]()


def throttle() -> SignInThrottle:
    """The app's failed-password bookkeeping."""
    return current_app.extensions["sign_in_throttle"]


def start(at: float) -> None:
    """Stamp a fresh session at sign-in; entering the password counts as a re-authentication."""
    session[SIGNED_IN_AT] = session[SEEN_AT] = session[REAUTH_AT] = int(at)


def expiry_reason(at: float) -> str | None:
    """Why the signed-in session must end now, or None while it is still good."""
    settings = _settings()
    signed_in_at, seen_at = session.get(SIGNED_IN_AT), session.get(SEEN_AT)
    if not isinstance(signed_in_at, int) or not isinstance(seen_at, int):
        return "Your session has expired; sign in again."  # a cookie from before these stamps existed
    if at - signed_in_at > settings.session_max_hours * 3600:
        return f"Your session reached its {settings.session_max_hours}-hour limit; sign in again."
    if at - seen_at > settings.session_idle_minutes * 60:
        return f"Your session expired after {settings.session_idle_minutes} minutes without activity; sign in again."
    return None


def reauthenticated_recently(at: float) -> bool:
    """Whether the password was entered (at sign-in or again) within the last `REAUTH_MINUTES`."""
    reauth_at = session.get(REAUTH_AT)
    return isinstance(reauth_at, int) and 0 <= at - reauth_at <= _settings().reauth_minutes * 60


@dataclass(frozen=True)
class PasswordCheck:
    ok: bool
    message: str | None = None
    status: int = 200
    retry_after: int = 0


def confirm_password(password: str) -> PasswordCheck:
    """Check the signed-in user's password again: throttled per (address, user), failures audited."""
    user = current_user._get_current_object()
    address = request.remote_addr or "-"
    wait = throttle().wait_seconds(address, user.username)
    if wait:
        return PasswordCheck(False, f"Too many wrong passwords: wait {wait} seconds and try again.", 429, wait)
    if accounts.authenticate(db.session, user.username, password) is None:
        delay = throttle().failed(address, user.username)
        accounts.record_failed_reauth(db.session, user)
        return PasswordCheck(False, "Wrong password; nothing was changed.", 401, delay)
    throttle().succeeded(address, user.username)
    accounts.record_reauth(db.session, user)
    session[REAUTH_AT] = int(now())
    return PasswordCheck(True)


def current_page_path() -> str:
    """The page an htmx request came from (same site only), to return to after a prompt; home otherwise."""
    current_url = request.headers.get("HX-Current-URL", "")
    parts = urlsplit(current_url)
    if parts.netloc and parts.netloc != request.host:
        return url_for("home.index")
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return local_path(path) or url_for("home.index")


def register(app: Flask) -> None:
    """End stale sessions before any view runs."""
    app.extensions.setdefault("session_clock", time.time)

    @app.before_request
    def enforce_session_lifetime() -> Response | None:
        if request.endpoint in (None, "static") or "_user_id" not in session:
            return None
        at = now()
        reason = expiry_reason(at)
        if reason is None:
            if at - session[SEEN_AT] >= SEEN_RESOLUTION_SECONDS:
                session[SEEN_AT] = int(at)
            return None
        logout_user()
        session.clear()
        flash(reason, "info")
        next_path = local_path(request.full_path.rstrip("?")) if request.method == "GET" else None
        login_url = url_for("auth.login", next=next_path) if next_path else url_for("auth.login")
        if is_htmx_partial():
            response = Response(status=401)
            response.headers["HX-Redirect"] = url_for("auth.login")
            return response
        return redirect(login_url)

