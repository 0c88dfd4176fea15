"""WTForms forms of the panel's pages (CSRF comes with Flask-WTF)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import InputRequired, Length

from app.models.users import USERNAME_MAX


class SignInForm(FlaskForm):
    username = StringField(
        "Username",
        validators=[
            InputRequired("Enter your username."),
            Length(max=USERNAME_MAX, message=f"A username has at most {USERNAME_MAX} characters."),
        ],
    )
    password = PasswordField(
        "Password",
        validators=[InputRequired("Enter your password."), Length(max=1024, message="That password is too long.")],
    )


class NewUserForm(FlaskForm):
    username = StringField(
        "Username",
        validators=[
            InputRequired("Enter a username."),
            Length(max=USERNAME_MAX, message=f"A username has at most {USERNAME_MAX} characters."),
        ],
    )
    role = SelectField("Role", choices=[("viewer", "viewer"), ("admin", "admin")], default="viewer")


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=[("viewer", "viewer"), ("admin", "admin")])
