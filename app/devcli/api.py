"""The panel's /api/v1 as the CLI sees it: every call sends the developer's Deis token and controller URL; every
refusal becomes an `ApiError` carrying the panel's `{"error": {"code", "message", "detail"}}` and an exit code."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from app.devcli.settings import ClientSettings

USER_AGENT = "deis-db/0.1"
TIMEOUT = (10, 60)  # connect, read (seconds)

# Exit codes: 0 ok, 1 a failed operation or a server/network error, 2 bad usage, 3 not signed in or not allowed.
EXIT_FAILED, EXIT_USAGE, EXIT_NOT_ALLOWED = 1, 2, 3


class ApiError(Exception):
    def __init__(self, message: str, exit_code: int, status: int | None = None, code: str | None = None,
                 detail: Any = None, body: Any = None):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.status = status
        self.code = code
        self.detail = detail
        self.body = body  # the panel's JSON answer, for --json


def exit_code_for(status: int, code: str | None, header_refused: bool = False) -> int:
    """401/403, 404 (an app the token may not see answers 404 too), an unknown controller and a refused
    Authorization / X-Deis-Controller header (both come from the settings file): not signed in or not allowed (3);
    other 400s and 422: the request itself was refused as bad input (2); anything else (409, 5xx): failed (1)."""
    if status in (401, 403, 404) or code == "unknown_controller" or header_refused:
        return EXIT_NOT_ALLOWED
    if status in (400, 422):
        return EXIT_USAGE
    return EXIT_FAILED


def error_from(response: requests.Response, what: str) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        code = error.get("code")
        message = str(error["message"])
        detail = error.get("detail")
    else:
        code, detail = None, None
        message = f"{what} answered HTTP {response.status_code} {response.reason or ''}".rstrip()
    if response.status_code == 401:
        message += " Run `deis login` again (your Deis token is missing, invalid or was revoked)."
    elif response.status_code == 404 and code is None:
        message += " (not found, or not yours to see)"
    header_refused = response.status_code == 400 and isinstance(detail, dict) and "header" in detail
    if header_refused:
        message += " Run `deis login` again to rewrite your settings file."
    return ApiError(message, exit_code_for(response.status_code, code, header_refused), response.status_code, code,
                    detail, body)


class PanelApi:
    def __init__(self, settings: ClientSettings, session: requests.Session | None = None):
        self.settings = settings
        self.base = settings.panel_url + "/api/v1"
        self.session = session or requests.Session()
        self.session.verify = settings.ssl_verify
        self.session.headers.update({
            "Authorization": f"token {settings.token}",
            "X-Deis-Controller": settings.controller,
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        })

    def request(self, method: str, path: str, json: Any = None) -> dict:
        url = self.base + path
        try:
            response = self.session.request(method, url, json=json, timeout=TIMEOUT)
        except requests.exceptions.SSLError as error:
            raise ApiError(f"TLS error talking to the panel at {self.settings.panel_url}: {_reason(error)}"
                           " (ssl_verify is on in your Deis settings).", EXIT_FAILED) from None
        except requests.RequestException as error:
            raise ApiError(f"Cannot reach the panel at {self.settings.panel_url}: {_reason(error)}.",
                           EXIT_FAILED) from None
        if response.status_code >= 400:
            raise error_from(response, "The panel")
        try:
            body = response.json()
        except ValueError:
            raise ApiError(f"The panel answered {method} {path} with something that is not JSON "
                           f"(HTTP {response.status_code}); is {self.settings.panel_url} the Admin Panel?",
                           EXIT_FAILED) from None
        if not isinstance(body, dict):
            raise ApiError(f"The panel answered {method} {path} with unexpected JSON.", EXIT_FAILED)
        return body

    # -- endpoints (see docs/cli.md and the OpenAPI document at /api/v1/openapi.json) --------------------------
    def whoami(self) -> dict:
        return self.request("GET", "/whoami")

    def app(self, app: str) -> dict:
        return self.request("GET", f"/apps/{_seg(app)}")

    def create_database(self, app: str, replace: bool = False) -> dict:
        return self.request("POST", f"/apps/{_seg(app)}/database", json={"replace": True} if replace else {})

    def backups(self, app: str) -> dict:
        return self.request("GET", f"/apps/{_seg(app)}/backups")

    def capture(self, app: str) -> dict:
        return self.request("POST", f"/apps/{_seg(app)}/backups", json={})

    def restore(self, app: str, backup: int) -> dict:
        return self.request("POST", f"/apps/{_seg(app)}/backups/{backup}/restore", json={})

    def clone(self, app: str, backup: int, to: str, restore: bool) -> dict:
        return self.request("POST", f"/apps/{_seg(app)}/backups/{backup}/clone", json={"to": to, "restore": restore})

    def download_token(self, app: str, backup: int) -> dict:
        return self.request("POST", f"/apps/{_seg(app)}/backups/{backup}/download-token", json={})

    def upload_token(self, app: str) -> dict:
        return self.request("POST", f"/apps/{_seg(app)}/upload-token", json={})

    def operation(self, operation: int) -> dict:
        return self.request("GET", f"/operations/{operation}")


def _seg(value: str) -> str:
    return quote(value, safe="")


def _reason(error: Exception) -> str:
    """A short reason for a network error (requests' messages repeat the whole URL and pool internals)."""
    text = str(error.args[0] if error.args else error)
    for marker in ("Caused by ", "Failed to establish a new connection: "):
        if marker in text:
            text = text.split(marker, 1)[1]
    return text.strip("()' ").split("'))")[0][:200] or error.__class__.__name__
