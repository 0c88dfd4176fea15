"""Who is calling and what they may touch: DRF token authentication and the controller's object permissions."""
from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request

from sandbox.deis.errors import PERMISSION_DENIED, auth_failed, detail, not_found
from sandbox.deis.http import Call
from sandbox.deis.state import App, Certificate, ControllerState, User


def authenticate(state: ControllerState, request: Request) -> User | None:
    """DRF TokenAuthentication: `token <key>`, keyword case-insensitive; other schemes mean anonymous."""
    header = request.headers.get("Authorization", "").encode("latin-1", "replace").split()
    if not header or header[0].lower() != b"token":
        return None
    if len(header) == 1:
        raise auth_failed("Invalid token header. No credentials provided.")
    if len(header) > 2:
        raise auth_failed("Invalid token header. Token string should not contain spaces.")
    try:
        token = header[1].decode()
    except UnicodeError as error:
        raise auth_failed("Invalid token header. Token string should not contain invalid characters.") from error
    username = state.usernames_by_token.get(token)
    if username is None:
        raise auth_failed("Invalid token.")
    return state.users[username]


def app_for(call: Call, app_id: str) -> App:
    """`get_object_or_404(App)` then the IsAppUser permission: owner, superuser, or shared (except DELETE)."""
    app = call.state.apps.get(app_id)
    if app is None:
        raise not_found("App")
    user = call.user
    if user.is_superuser or app.owner == user.username:
        return app
    if user.username in app.shared_with and call.request.method.upper() != "DELETE":
        return app
    raise detail(403, PERMISSION_DENIED)


def user_named(call: Call, username: Any) -> User:
    user = call.state.users.get(username) if isinstance(username, str) else None
    if user is None:
        raise not_found("User")
    return user


def own_certificate(call: Call, name: str) -> Certificate:
    # CertificateViewSet filters by owner for every verb: an admin gets a 404 for someone else's certificate.
    certificate = call.state.certificates.get(name)
    if certificate is None or certificate.owner != call.user.username:
        raise not_found("Certificate")
    return certificate
