"""The controller's error answers: DRF shapes, its 404 quirk, and the bodies injected faults answer with."""
from __future__ import annotations

import json
from typing import Any

NOT_AUTHENTICATED = "Authentication credentials were not provided."
PERMISSION_DENIED = "You do not have permission to perform this action."
REQUIRED = "This field is required."


class ApiError(Exception):
    """An answer other than success; `payload` is rendered as JSON exactly as DRF would."""

    def __init__(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.payload = payload
        self.headers = headers or {}


def detail(status: int, message: str) -> ApiError:
    return ApiError(status, {"detail": message})


def not_found(model: str) -> ApiError:
    # Deis' exception handler turns Django's Http404 into a bare JSON string, unlike DRF's {"detail": ...}.
    return ApiError(404, f"No {model} matches the given query.")


def invalid_data(data: Any) -> ApiError:
    # DRF's serializer-level error for a body that is JSON but not an object.
    message = f"Invalid data. Expected a dictionary, but got {type(data).__name__}."
    return ApiError(400, {"non_field_errors": [message]})


def server_error() -> ApiError:
    # What the controller answers when a view raises something DRF does not handle (KeyError on a missing field,
    # AttributeError on a list where a dict was expected...): the real service is not kinder, so neither are we.
    return detail(500, "Server Error")


def auth_failed(message: str) -> ApiError:
    return ApiError(401, {"detail": message}, {"WWW-Authenticate": "Token"})


def fault_error_body(status: int) -> tuple[bytes, str]:
    """Bodies for injected faults, in what a client of a real cluster would receive for that status."""
    if status == 502 or status == 504:
        # Gateway errors come from the deis-router (nginx) in front of the controller, not from Django.
        title = "502 Bad Gateway" if status == 502 else "504 Gateway Time-out"
        html = f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
        return (html + "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n").encode(), "text/html"
    messages = {
        429: "Request was throttled.",
        500: "Server Error",
        503: "Service temporarily unavailable, try again later.",
    }
    body = {"detail": messages.get(status, "Server Error")}
    return json.dumps(body, separators=(",", ":")).encode(), "application/json"
