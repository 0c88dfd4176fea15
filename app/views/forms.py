"""WTForms forms of the panel's pages (CSRF comes with Flask-WTF)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField, TextAreaField
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


class CertificateUploadForm(FlaskForm):
    """A PEM chain and its key for one domain; the key field is never rendered back (see certificates/upload.html)."""

    cluster = SelectField("Cluster", validators=[InputRequired("Choose the domain's cluster.")])
    domain = StringField("Domain", validators=[InputRequired("Enter the domain the certificate is for."),
                                               Length(max=255, message="A domain has at most 255 characters.")])
    certificate = TextAreaField("Certificate chain (PEM)", validators=[
        InputRequired("Paste the certificate chain (PEM)."),
        Length(max=64 * 1024, message="The certificate chain is longer than 64 KiB."),
    ])
    key = TextAreaField("Private key (PEM, unencrypted)", validators=[
        InputRequired("Paste the private key (PEM)."),
        Length(max=16 * 1024, message="The private key is longer than 16 KiB."),
    ])
