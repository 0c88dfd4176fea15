"""Signing in and out, and confirming the password again before destructive actions."""
from __future__ import annotations

import logging

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from app.extensions import db, limiter
from app.operations import accounts
from app.views import sessions
from app.views.access import REAUTH_FIELD
from app.views.forms import SignInForm
from app.views.safe_redirect import local_path

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)
FAILED = "Unknown username or wrong password."
DISABLED = "This account is disabled; ask an administrator to enable it."
WRONG_PASSWORD = 401


def _login_limit() -> str:
    return current_app.config["SETTINGS"].login_rate_limit


def _wrong_password(response) -> bool:
    return response.status_code == WRONG_PASSWORD  # only passwords actually checked and refused count


@bp.route("/login", methods=["GET", "POST"])
# Per address overall (the real client address once TRUSTED_PROXY_HOPS is set); the per-(address, username)
# growing delays are in the view. Nothing is keyed on the username alone: that would let anyone lock an admin out.
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_wrong_password)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = SignInForm()
    if form.validate_on_submit():
        address, username = request.remote_addr or "-", form.username.data
        wait = sessions.throttle().wait_seconds(address, username)
        if wait:
            flash(f"Too many failed sign-ins for this username from your address: wait {wait} seconds.", "error")
            return render_template("auth/login.html", form=form), 429, {"Retry-After": str(wait)}
        user = accounts.authenticate(db.session, username, form.password.data)
        if user is None:
            delay = sessions.throttle().failed(address, username)
            log.warning("failed sign-in for username %r from %s", username[:64], address)
            flash(FAILED, "error")
            headers = {"Retry-After": str(delay)} if delay else {}
            return render_template("auth/login.html", form=form), WRONG_PASSWORD, headers
        sessions.throttle().succeeded(address, username)
        if not user.is_active:  # said only to someone who knows the password
            flash(DISABLED, "error")
            return render_template("auth/login.html", form=form), 403
        session.clear()  # a fresh session at sign-in: nothing set before it survives (no fixation)
        login_user(user)
        sessions.start(sessions.now())
        accounts.record_sign_in(db.session, user)
        return redirect(local_path(request.args.get("next")) or url_for("home.index"))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/reauth", methods=["GET", "POST"])
@login_required
def reauth():
    """The password prompt an htmx action sends people to; back to the page they came from once confirmed."""
    next_path = local_path(request.args.get("next")) or url_for("home.index")
    action = url_for("auth.reauth", next=next_path)
    if request.method == "GET":
        return render_template("auth/reauth.html", action=action, replayed=[], message=None, field=REAUTH_FIELD)
    check = sessions.confirm_password(request.form.get(REAUTH_FIELD, ""))
    if check.ok:
        flash("Password confirmed: go ahead.", "info")
        return redirect(next_path)
    headers = {"Retry-After": str(check.retry_after)} if check.retry_after else {}
    return render_template("auth/reauth.html", action=action, replayed=[], message=check.message,
                           field=REAUTH_FIELD), check.status, headers


@bp.post("/logout")
@login_required
def logout():
    accounts.sign_out(db.session, current_user._get_current_object())
    logout_user()
    session.clear()
    flash("Signed out.", "info")
    return redirect(url_for("auth.login"))
