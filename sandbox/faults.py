"""Fault injection for the sandbox simulators: a WSGI middleware switched at run time.

`FaultInjector` wraps a simulator's WSGI app. It answers `GET/POST/DELETE /__sandbox/faults` itself and passes every
other request through after applying the configured faults: added latency (fixed + jitter), random error statuses in
the simulated service's own error shape, TCP connection resets, 429 storms, slow pages, a "let N requests pass
first" switch so a test can make a source fail in the middle of a pagination, "apply then fail" (the request is
handled and its effect kept, then the client gets a 5xx or a reset instead of the answer: the lost-answer case every
write path must survive) and churn (the simulator's state changes while a client reads it, at a rate per second,
through a callback the simulator supplies). Everything is off by default.
"""
from __future__ import annotations

import json
import math
import os
import random
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ADMIN_PATH = "/__sandbox/faults"
# Requests served (every path except the two admin endpoints), by "METHOD /path" without the query string:
# `GET` reads the counts, `DELETE` zeroes them. Benchmarks and cache tests count calls here.
REQUESTS_PATH = "/__sandbox/requests"

# (body, content type) in the simulated service's own error shape for a given HTTP status.
ErrorBody = Callable[[int], tuple[bytes, str]]
# One random change of the simulator's state (create or delete something), drawn with the injector's Random.
Churn = Callable[[random.Random], None]
WRITE_METHODS = ["POST", "PUT", "PATCH", "DELETE"]
FAULT_KINDS = ("error", "reset", "apply_then_fail", "storm_429", "delay")
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_REASONS = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 408: "Request Timeout",
    409: "Conflict", 422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}


class FaultSettings(BaseModel):
    """What to break, and how often. All faults are off by default."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    latency_ms: int = Field(default=0, ge=0, le=600_000)
    jitter_ms: int = Field(default=0, ge=0, le=600_000)
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    error_statuses: list[int] = Field(default_factory=lambda: [500, 502, 503], min_length=1)
    reset_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    storm_429_seconds: float = Field(default=0.0, ge=0.0, le=86_400.0)
    slow_page_ms: int = Field(default=0, ge=0, le=600_000)
    after_requests: int = Field(default=0, ge=0)
    apply_then_fail_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    apply_then_fail_methods: list[str] = Field(default_factory=lambda: list(WRITE_METHODS), min_length=1)
    apply_then_fail_reset: bool = False  # True: the lost answer is a connection reset instead of an error status
    churn_per_second: float = Field(default=0.0, ge=0.0, le=10_000.0)
    path_contains: str | None = None
    seed: int | None = None

    @field_validator("error_statuses")
    @classmethod
    def _http_error_statuses(cls, value: list[int]) -> list[int]:
        for status in value:
            if not 400 <= status <= 599:
                raise ValueError(f"error status {status} is not an HTTP error status (400..599)")
        return value

    @field_validator("apply_then_fail_methods")
    @classmethod
    def _http_methods(cls, value: list[str]) -> list[str]:
        methods = [method.upper() for method in value]
        for method in methods:
            if method not in {"GET", "HEAD", *WRITE_METHODS}:
                raise ValueError(f"{method!r} is not an HTTP method this switch applies to")
        return methods


class FaultInjector:
    """WSGI middleware that applies `FaultSettings` to every request except its own admin endpoint."""

    def __init__(
        self, wsgi_app: WSGIApp, name: str, error_body: ErrorBody | None = None, churn: Churn | None = None
    ) -> None:
        self.wsgi_app = wsgi_app
        self._churn = churn
        self._churn_due = 0.0
        self._churn_clock = time.monotonic()
        self.churned = 0
        self.name = name
        self._error_body = error_body or _plain_error_body
        self._lock = threading.Lock()
        self.settings = FaultSettings()
        self._configured_at = time.monotonic()
        self._matching_requests = 0
        self._random = random.Random()
        self._served: dict[str, int] = {}
        # Faults applied since start, by kind (never reset by `configure`): what a campaign reports it injected.
        self.injected: dict[str, int] = dict.fromkeys(FAULT_KINDS, 0)

    # -- request counts ------------------------------------------------------------------------------------------
    def request_counts(self) -> dict[str, Any]:
        """{"total": n, "by_path": {"GET /v2/apps": n, ...}} since start or the last reset."""
        with self._lock:
            return {"name": self.name, "total": sum(self._served.values()), "by_path": dict(self._served)}

    def reset_request_counts(self) -> None:
        with self._lock:
            self._served = {}

    def _count(self, environ: dict[str, Any], path: str) -> None:
        key = f"{environ.get('REQUEST_METHOD', 'GET').upper()} {path}"
        with self._lock:
            self._served[key] = self._served.get(key, 0) + 1

    # -- configuration -------------------------------------------------------------------------------------------
    def configure(self, **fields: Any) -> FaultSettings:
        """Set the given fields (others keep their value) and restart the clock and the request count.

        Raises pydantic's ValidationError (a ValueError) on unknown fields or bad values, changing nothing.
        """
        with self._lock:
            merged = {**self.settings.model_dump(), **fields}
            settings = FaultSettings.model_validate(merged)
            self._install(settings)
            return settings

    def clear(self) -> None:
        """Switch every fault off."""
        with self._lock:
            self._install(FaultSettings())

    def _install(self, settings: FaultSettings) -> None:
        # The storm window and `after_requests` both count from the moment of configuration.
        self.settings = settings
        self._configured_at = time.monotonic()
        self._matching_requests = 0
        self._random = random.Random(settings.seed)
        self._churn_due, self._churn_clock = 0.0, self._configured_at

    def state(self) -> dict[str, Any]:
        """The admin endpoint's view: settings plus counters a test may want to check."""
        with self._lock:
            storm_left = self.settings.storm_429_seconds - (time.monotonic() - self._configured_at)
            return {
                "name": self.name,
                "settings": self.settings.model_dump(),
                "requests_since_configured": self._matching_requests,
                "storm_seconds_left": round(max(storm_left, 0.0), 3),
                "churned": self.churned,
                "injected": dict(self.injected),
            }

    # -- WSGI ----------------------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        if path.rstrip("/") == ADMIN_PATH:
            return self._admin(environ, start_response)
        if path.rstrip("/") == REQUESTS_PATH:
            return self._requests_admin(environ, start_response)
        self._count(environ, path)
        self._apply_churn()
        decision = self._decide(environ, path)
        self._count_injected(decision)
        if decision.delay_seconds > 0:
            time.sleep(decision.delay_seconds)
        if decision.storm_retry_after is not None:
            return self._respond_error(start_response, 429, {"Retry-After": str(decision.storm_retry_after)})
        if decision.reset:
            _reset_connection(environ)
        if decision.error_status is not None:
            return self._respond_error(start_response, decision.error_status, {})
        if decision.apply_then_fail:
            return self._apply_then_fail(environ, start_response, decision)
        return self.wsgi_app(environ, start_response)

    def _count_injected(self, decision: _Decision) -> None:
        kinds = [kind for kind, applies in (
            ("delay", decision.delay_seconds > 0), ("storm_429", decision.storm_retry_after is not None),
            ("reset", decision.reset), ("error", decision.error_status is not None),
            ("apply_then_fail", decision.apply_then_fail is not None)) if applies]
        if kinds:
            with self._lock:
                for kind in kinds:
                    self.injected[kind] += 1

    def _apply_churn(self) -> None:
        """Make the changes due since the last request (rate x elapsed time): churn happens between requests."""
        if self._churn is None:
            return
        with self._lock:
            rate = self.settings.churn_per_second
            now = time.monotonic()
            if rate <= 0:
                self._churn_clock = now
                return
            self._churn_due += rate * (now - self._churn_clock)
            self._churn_clock = now
            changes = int(self._churn_due)
            self._churn_due -= changes
            for _ in range(changes):
                self._churn(self._random)
                self.churned += 1

    def _apply_then_fail(self, environ: dict[str, Any], start_response: StartResponse,
                         decision: _Decision) -> Iterable[bytes]:
        """Handle the request for real (its effect stays), throw the answer away, and fail instead."""
        body = self.wsgi_app(environ, lambda status, headers, exc_info=None: (lambda data: None))
        try:
            for _ in body:
                pass
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        if self.settings.apply_then_fail_reset:
            _reset_connection(environ)
        return self._respond_error(start_response, decision.apply_then_fail, {})

    def _decide(self, environ: dict[str, Any], path: str) -> _Decision:
        """Draw every random choice for one request under the lock, so a seed gives a repeatable sequence."""
        decision = _Decision()
        with self._lock:
            settings = self.settings
            if settings.path_contains is not None and settings.path_contains not in path:
                return decision
            self._matching_requests += 1
            if self._matching_requests <= settings.after_requests:
                return decision
            storm_left = settings.storm_429_seconds - (time.monotonic() - self._configured_at)
            if storm_left > 0:
                decision.storm_retry_after = max(1, math.ceil(storm_left))
                return decision
            delay_ms = float(settings.latency_ms)
            if settings.jitter_ms:
                delay_ms += self._random.uniform(0, settings.jitter_ms)
            if settings.slow_page_ms and _asks_for_later_page(environ.get("QUERY_STRING", "")):
                delay_ms += settings.slow_page_ms
            decision.delay_seconds = delay_ms / 1000.0
            if settings.reset_rate and self._random.random() < settings.reset_rate:
                decision.reset = True
                return decision
            if settings.error_rate and self._random.random() < settings.error_rate:
                decision.error_status = self._random.choice(settings.error_statuses)
                return decision
            method = environ.get("REQUEST_METHOD", "GET").upper()
            if (settings.apply_then_fail_rate and method in settings.apply_then_fail_methods
                    and self._random.random() < settings.apply_then_fail_rate):
                decision.apply_then_fail = self._random.choice([s for s in settings.error_statuses if s >= 500]
                                                               or [502])
        return decision

    def _respond_error(self, start_response: StartResponse, status: int, headers: dict[str, str]) -> list[bytes]:
        body, content_type = self._error_body(status)
        response_headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers.items()]
        start_response(f"{status} {_REASONS.get(status, 'Error')}", response_headers)
        return [body]

    def _admin(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if method == "GET":
            return _json_response(start_response, 200, self.state())
        if method == "DELETE":
            self.clear()
            return _json_response(start_response, 200, self.state())
        if method == "POST":
            try:
                fields = json.loads(_read_body(environ) or b"{}")
            except (ValueError, UnicodeDecodeError) as error:
                return _json_response(start_response, 400, {"error": f"body is not valid JSON: {error}"})
            if not isinstance(fields, dict):
                return _json_response(start_response, 422, {"error": "body must be a JSON object of fault fields"})
            try:
                self.configure(**fields)
            except ValidationError as error:
                problems = [
                    {"field": ".".join(str(part) for part in issue["loc"]), "message": issue["msg"]}
                    for issue in error.errors()
                ]
                return _json_response(start_response, 422, {"error": "invalid fault settings", "problems": problems})
            return _json_response(start_response, 200, self.state())
        return _json_response(
            start_response, 405, {"error": f"method {method} not allowed"}, [("Allow", "GET, POST, DELETE")]
        )


    def _requests_admin(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if method == "DELETE":
            self.reset_request_counts()
        elif method != "GET":
            return _json_response(start_response, 405, {"error": f"method {method} not allowed"},
                                  [("Allow", "GET, DELETE")])
        return _json_response(start_response, 200, self.request_counts())


class _Decision:
    """What the injector decided to do with one request."""

    __slots__ = ("apply_then_fail", "delay_seconds", "error_status", "reset", "storm_retry_after")

    def __init__(self) -> None:
        self.delay_seconds = 0.0
        self.storm_retry_after: int | None = None
        self.reset = False
        self.error_status: int | None = None
        self.apply_then_fail: int | None = None  # the 5xx to answer after applying the request


def _asks_for_later_page(query_string: str) -> bool:
    """True for `page>=2` or `offset>0`: the requests a slow-pages fault slows down."""
    params = parse_qs(query_string)
    for key, threshold in (("page", 2), ("offset", 1)):
        for raw in params.get(key, []):
            try:
                if float(raw) >= threshold:
                    return True
            except ValueError:
                continue
    return False


def _reset_connection(environ: dict[str, Any]) -> None:
    """Abort the client's TCP connection with a RST and no response, then unwind the request quietly.

    Closing the socket object is not enough: the server's buffered reader still holds the descriptor. So the
    descriptor is replaced (dup2) by one end of a dead socketpair, which closes the real TCP socket, and SO_LINGER 0
    turns that close into a RST. The server then reads EOF and sees a dropped connection instead of crashing.
    """
    connection = environ.get("werkzeug.socket") or environ.get("gunicorn.socket")
    if isinstance(connection, socket.socket) and connection.fileno() >= 0:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        dead_end, peer = socket.socketpair()
        peer.close()
        os.dup2(dead_end.fileno(), connection.fileno())
        dead_end.close()
        # Part of the request body may sit in the server's read buffer; left there, a keep-alive server would parse
        # it as the next request line. The descriptor now reads EOF, so this drains only what was buffered.
        stream = environ.get("wsgi.input")
        raw_stream = getattr(stream, "_rfile", stream)  # werkzeug wraps chunked bodies around the raw reader
        try:
            while raw_stream is not None and raw_stream.read(65536):
                pass
        except (OSError, ValueError):
            pass
    # Werkzeug (and most servers) treat a ConnectionError from the app as "client went away": nothing is written.
    raise ConnectionResetError("sandbox fault: connection reset")


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ.get("wsgi.input")
    if stream is None or length <= 0:
        return b""
    body: bytes = stream.read(length)
    return body


def _json_response(
    start_response: StartResponse, status: int, payload: Any, extra_headers: list[tuple[str, str]] | None = None
) -> list[bytes]:
    body = json.dumps(payload).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *(extra_headers or [])]
    start_response(f"{status} {_REASONS.get(status, 'OK' if status < 400 else 'Error')}", headers)
    return [body]


def _plain_error_body(status: int) -> tuple[bytes, str]:
    """Default error body when the simulated service gave none: what a proxy in front of it would say."""
    return f"{status} {_REASONS.get(status, 'Error')}\n".encode(), "text/plain; charset=utf-8"
