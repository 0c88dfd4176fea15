"""Managing panel accounts (admins only change them; everyone may see who has access)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from app.extensions import db
from app.models import User
from app.operations import accounts
from app.views.access import admin_required
from app.views.forms import NewUserForm, RoleForm

bp = Blueprint("users", __name__, url_prefix="/users")


@bp.get("/")
@login_required
def index():
    users = db.session.scalars(select(User).order_by(User.username)).all()
    return render_template("users/index.html", users=users, form=NewUserForm())


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
            flash(f"Created {user.role} {user.username}. Their password, shown only now: {password}", "info")
            return redirect(url_for("users.index"))
    users = db.session.scalars(select(User).order_by(User.username)).all()
    return render_template("users/index.html", users=users, form=form), 400


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
