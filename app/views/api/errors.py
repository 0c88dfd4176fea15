"""Every error of `/api/v1` in one shape: `{"error": {"code", "message", "detail"}}`, whatever raised it (our own
refusals, apiflask's validation, Werkzeug's 404/405, an unexpected exception: logged, answered without a trace)."""
from __future__ import annotations

import logging
from typing import Any

from apiflask import HTTPError
from flask import Flask, Request, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from app.queries.developer_access import AccessRefused

API_PREFIX = "/api/v1"
log = logging.getLogger("app.api")

CODES = {400: "bad_request", 401: "not_signed_in", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
         406: "not_acceptable", 409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid",
         429: "too_many_requests", 500: "internal_error", 502: "upstream_unavailable", 503: "unavailable"}
MESSAGES = {404: "There is nothing at this address, or you may not see it.",
            405: "This address does not take that method.",
            429: "Too many refused tokens from your address: wait a minute and try again.",
            500: "Something went wrong on the panel; it is logged."}


class ApiError(AccessRefused):
    """A refusal of the API: status, stable code, a sentence, and details a script can use."""


def error_response(status: int, code: str, message: str, detail: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    response = jsonify({"error": {"code": code, "message": message, "detail": detail}})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def is_api_request() -> bool:
    return request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/")


def from_refusal(error: AccessRefused) -> Response:
    headers = {"WWW-Authenticate": 'Token realm="deis"'} if error.status == 401 else None
    return error_response(error.status, error.code, error.message, error.detail, headers)


def from_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    message = MESSAGES.get(status) or (error.description or "The request cannot be served.").split("\n")[0][:300]
    if status == 400:
        message = "The request is malformed (is the body valid JSON?)."
    headers = {"Allow": error.get_response().headers["Allow"]} if status == 405 else None
    return error_response(status, CODES.get(status, "error"), message, None, headers)


def from_apiflask(error: HTTPError) -> Response:
    status = error.status_code
    detail = error.detail if isinstance(error.detail, dict) and error.detail else None
    message = "The request does not match the API: see detail." if status == 422 else str(error.message)[:300]
    return error_response(status, CODES.get(status, "error"), message, detail)


def unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return from_http_exception(error)
    log.exception("unexpected error on %s %s", request.method, request.path)
    return error_response(500, "internal_error", MESSAGES[500])


def register(bp) -> None:
    """The blueprint's own handlers: whatever its views raise."""
    bp.errorhandler(AccessRefused)(from_refusal)
    bp.errorhandler(HTTPError)(from_apiflask)
    bp.errorhandler(HTTPException)(from_http_exception)
    bp.errorhandler(Exception)(unexpected)


def install(app: Flask) -> None:
    """Let an API request have no body where one is optional: an empty body reads as no JSON, not malformed JSON.
    (The app's own 404/405 handlers answer with `from_http_exception` under /api/v1.)"""
    app.request_class = _PanelRequest


class _PanelRequest(Request):
    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if e is not None and self.path.startswith(API_PREFIX + "/") and not self.get_data(cache=True):
            return None
        return super().on_json_loading_failed(e)
