"""Health, the API root, log-in, whoami, tokens, and the admin-only user and admin listings."""
from __future__ import annotations

import secrets
from typing import Any

from werkzeug.wrappers import Response

from sandbox.deis.auth import user_named
from sandbox.deis.errors import PERMISSION_DENIED, REQUIRED, ApiError, detail, invalid_data
from sandbox.deis.http import Call, empty_response, paginate
from sandbox.deis.state import User


class UserHandlers:
    """`/healthz`, `/v2/auth/...`, `/v2/admin/perms` and `/v2/users`."""

    def _health(self, call: Call) -> Response:
        return Response(b"OK", status=200, content_type="text/html; charset=utf-8")

    def _api_root(self, call: Call) -> tuple[int, Any]:
        return 200, {}

    def _login(self, call: Call) -> tuple[int, Any]:
        data = call.data
        if not isinstance(data, dict):
            raise invalid_data(data)
        errors: dict[str, list[str]] = {}
        for name in ("username", "password"):
            value = data.get(name)
            if value is None:
                errors[name] = [REQUIRED]
            elif not str(value):
                errors[name] = ["This field may not be blank."]
        if errors:
            raise ApiError(400, errors)
        user = call.state.users.get(str(data["username"]))
        if user is None or not secrets.compare_digest(user.password.encode(), str(data["password"]).encode()):
            raise ApiError(400, {"non_field_errors": ["Unable to log in with provided credentials."]})
        return 200, {"token": user.token}

    def _whoami(self, call: Call) -> tuple[int, Any]:
        return 200, call.user.as_json()

    def _tokens_regenerate(self, call: Call) -> tuple[int, Any]:
        data = call.data if isinstance(call.data, dict) else {}
        if ("username" in data or "all" in data) and not call.user.is_superuser:
            raise detail(403, PERMISSION_DENIED)
        if "all" in data:
            for user in call.state.users.values():
                call.state.set_token(user, secrets.token_hex(20))
            return 200, ""
        target = call.user
        if "username" in data:
            target = user_named(call, data["username"])
        call.state.set_token(target, secrets.token_hex(20))
        return 200, {"token": target.token}

    def _admin_perms_list(self, call: Call) -> tuple[int, Any]:
        admins = [user for user in call.state.users.values() if user.is_superuser]
        return 200, paginate(call, admins, lambda user: {"username": user.username, "is_superuser": True})

    def _admin_perm_create(self, call: Call) -> Response:
        user_named(call, call.field("username")).is_superuser = True
        return empty_response(201)

    def _admin_perm_delete(self, call: Call, username: str) -> Response:
        user_named(call, username).is_superuser = False
        return empty_response(204)

    def _users_list(self, call: Call) -> tuple[int, Any]:
        return 200, paginate(call, list(call.state.users.values()), User.as_json)

    # -- certificates --------------------------------------------------------------------------------------------
