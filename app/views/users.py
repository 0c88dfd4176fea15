"""Managing panel accounts (admins only change them; everyone may see who has access)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from app.extensions import db
from app.models import User
from app.operations import accounts
from app.views.access import admin_required, reauth_required
from app.views.forms import NewUserForm, RoleForm

bp = Blueprint("users", __name__, url_prefix="/users")


def _users_page(form: NewUserForm, status: int = 200, new_password: tuple[User, str] | None = None):
    users = db.session.scalars(select(User).order_by(User.username)).all()
    response = make_response(render_template("users/index.html", users=users, form=form,
                                             new_password=new_password), status)
    if new_password:
        # The password is in this body only: never in the session cookie (signed, not encrypted), never cached.
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/")
@login_required
def index():
    return _users_page(NewUserForm())


@bp.post("/")
@admin_required
def create():
    form = NewUserForm()
    if form.validate_on_submit():
        try:
            user, password = accounts.create_user(db.session, form.username.data, form.role.data,
                                                  actor=current_user)
        except accounts.AccountError as error:
            form.username.errors.append(str(error))
        else:
            return _users_page(NewUserForm(formdata=None), 201, (user, password))
    return _users_page(form, 400)


@bp.post("/<int:user_id>/password")
@admin_required
@reauth_required
def reset_password(user_id: int):
    """Give a user a new generated password (shown once) and end their sessions; needs the admin's password."""
    user = db.get_or_404(User, user_id)
    password = accounts.reset_password(db.session, user, actor=current_user._get_current_object())
    return _users_page(NewUserForm(formdata=None), 200, (user, password))


@bp.post("/<int:user_id>/disable")
@admin_required
@reauth_required
def disable(user_id: int):
    """Stop a user signing in and end their open sessions at once; needs the admin's password."""
    return _account_change(user_id, accounts.disable_user, "{} is disabled: their sessions have ended.")


@bp.post("/<int:user_id>/enable")
@admin_required
@reauth_required
def enable(user_id: int):
    return _account_change(user_id, accounts.enable_user, "{} can sign in again.")


@bp.post("/<int:user_id>/delete")
@admin_required
@reauth_required
def delete(user_id: int):
    """Remove an account (its audit history stays); needs the admin's password."""
    return _account_change(user_id, accounts.delete_user, "{} is deleted; the audit log keeps what they did.")


def _account_change(user_id: int, change, done: str):
    user = db.get_or_404(User, user_id)
    username = user.username
    try:
        change(db.session, user, actor=current_user._get_current_object())
    except accounts.AccountError as error:
        flash(str(error), "error")
    else:
        flash(done.format(username), "info")
    return redirect(url_for("users.index"))


@bp.post("/<int:user_id>/role")
@admin_required
def change_role(user_id: int):
    user = db.get_or_404(User, user_id)
    form = RoleForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        accounts.change_role(db.session, user, form.role.data, actor=current_user)
    except accounts.AccountError as error:
        flash(str(error), "error")
    else:
        flash(f"{user.username} is now {user.role}.", "info")
    return redirect(url_for("users.index"))
