"""Signing in and out."""
from __future__ import annotations

import logging

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from app.extensions import db, limiter
from app.operations import accounts
from app.views.forms import SignInForm

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)
FAILED = "Unknown username or wrong password."


def _login_limit() -> str:
    return current_app.config["SETTINGS"].login_rate_limit


def _username_key() -> str:
    return "sign-in:" + (request.form.get("username", "")[:80].strip().lower() or "-")


def _failed(response) -> bool:
    return response.status_code != 302  # only failed attempts count towards the limit


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_failed)
@limiter.limit(_login_limit, methods=["POST"], key_func=_username_key, deduct_when=_failed)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = SignInForm()
    if form.validate_on_submit():
        user = accounts.authenticate(db.session, form.username.data, form.password.data)
        if user is None:
            log.warning("failed sign-in for username %r from %s", form.username.data[:64], request.remote_addr)
            flash(FAILED, "error")
            return render_template("auth/login.html", form=form), 401
        session.clear()  # a fresh session at sign-in: nothing set before it survives (no fixation)
        login_user(user)
        accounts.record_sign_in(db.session, user)
        return redirect(_safe_next(request.args.get("next")))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    accounts.sign_out(db.session, current_user._get_current_object())
    logout_user()
    session.clear()
    flash("Signed out.", "info")
    return redirect(url_for("auth.login"))


def _safe_next(target: str | None) -> str:
    # Only local paths: an open redirect after sign-in is a phishing aid.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("home.index")
