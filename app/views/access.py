"""Who may do what: viewers read everything, only admins change anything, destructive actions need the password."""
from __future__ import annotations

from functools import wraps

from flask import Response, abort, make_response, render_template, request, url_for
from flask_login import current_user, login_required

from app.views import sessions
from app.views.htmx import is_htmx_partial

REAUTH_FIELD = "reauth_password"
# Fields of the original form that the password prompt does not carry over (it brings its own CSRF token).
NOT_REPLAYED = {"csrf_token", REAUTH_FIELD}


def admin_required(view):
    """Allow the view to signed-in admins only; viewers get 403."""

    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def reauth_required(view):
    """Ask for the password again unless it was entered within `REAUTH_MINUTES`, then go on with the request.

    Put it under `admin_required` (a viewer gets 403, not a prompt). A normal form post gets a page with a password
    field that posts the same form again, so one more click carries the action out; an htmx request is sent to
    the prompt page (HX-Redirect) and back to the page it came from. A wrong password changes nothing, is audited
    and counts towards the same per-(address, user) delays as signing in.
    """

    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if sessions.reauthenticated_recently(sessions.now()):
            return view(*args, **kwargs)
        if is_htmx_partial():
            response = make_response("", 200)
            response.headers["HX-Redirect"] = url_for("auth.reauth", next=sessions.current_page_path())
            return response
        password = request.form.get(REAUTH_FIELD) if request.method == "POST" else None
        if password is None:
            return _prompt(None, 200)
        check = sessions.confirm_password(password)
        if check.ok:
            return view(*args, **kwargs)
        response = _prompt(check.message, check.status)
        if check.retry_after:
            response.headers["Retry-After"] = str(check.retry_after)
        return response

    return wrapper


def _prompt(message: str | None, status: int) -> Response:
    if request.method == "POST":
        action = request.full_path.rstrip("?")
        replayed = [(name, value) for name, value in request.form.items(multi=True) if name not in NOT_REPLAYED]
    else:
        action, replayed = url_for("auth.reauth", next=request.full_path.rstrip("?")), []
    html = render_template("auth/reauth.html", action=action, replayed=replayed, message=message,
                           field=REAUTH_FIELD)
    return make_response(html, status)
