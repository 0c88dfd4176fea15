"""Requests and answers as DRF handles them: the parsed body, limit/offset pagination, JSON and Django pages."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

from werkzeug.wrappers import Request, Response

from sandbox.deis.errors import NOT_AUTHENTICATED, detail, server_error
from sandbox.deis.state import ControllerState, User
from sandbox.deis.switches import DeisSwitches


PAGE_SIZE = 100

_UNSET: Any = object()


class Call:
    """One API request: the werkzeug request, the authenticated user, and the body parsed on first use (as DRF)."""

    def __init__(self, request: Request, state: ControllerState, user: User | None,
                 switches: DeisSwitches | None = None) -> None:
        self.request = request
        self.state = state
        self._user = user
        self._data: Any = _UNSET
        self.switches = switches or DeisSwitches()
        self.deploys = False  # set by a handler whose answer waits for a deploy

    @property
    def authenticated(self) -> bool:
        return self._user is not None

    @property
    def user(self) -> User:
        if self._user is None:  # routes that reach here always authenticated first
            raise detail(401, NOT_AUTHENTICATED)
        return self._user

    @property
    def data(self) -> Any:
        if self._data is _UNSET:
            self._data = parse_body(self.request)
        return self._data

    def field(self, name: str) -> Any:
        """`request.data[name]` as the controller writes it: a missing key or a non-object body is a 500."""
        data = self.data
        if not isinstance(data, dict) or name not in data:
            raise server_error()
        return data[name]

    def absolute_url(self) -> str:
        """`request.build_absolute_uri()`: from the Host the controller sees (a proxy's own, behind one)."""
        query = self.request.query_string.decode("latin-1")
        origin = self.switches.behind_proxy or self.request.host_url.rstrip("/")
        url = origin + quote(self.request.path)
        return f"{url}?{query}" if query else url


def parse_body(request: Request) -> Any:
    """DRF's parsers: JSON, form and multipart; an empty body is `{}`; anything else is 415."""
    raw = request.get_data(cache=True)
    if not raw:
        return {}
    media_type = request.mimetype
    if media_type == "application/json":
        try:
            return json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise detail(400, f"JSON parse error - {error}") from error
    if media_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return {key: request.form.getlist(key)[-1] for key in request.form}
    raise detail(415, f'Unsupported media type "{request.content_type or ""}" in request.')


def _positive_int(raw: str, strict: bool) -> int:
    number = int(raw)
    if number < 0 or (number == 0 and strict):
        raise ValueError(raw)
    return number


def with_query(url: str, key: str, value: int | None) -> str:
    """DRF's replace_query_param / remove_query_param: the query is re-encoded with keys sorted."""
    scheme, netloc, path, query, fragment = urlsplit(url)
    params = parse_qs(query, keep_blank_values=True)
    if value is None:
        params.pop(key, None)
    else:
        params[key] = [str(value)]
    return urlunsplit((scheme, netloc, path, urlencode(sorted(params.items()), doseq=True), fragment))


def paginate(call: Call, items: list[Any], render: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """DRF LimitOffsetPagination: a bad `limit` silently means the default page size, a bad offset means 0."""
    args = call.request.args
    limit = PAGE_SIZE
    if "limit" in args:
        try:
            limit = _positive_int(args.getlist("limit")[-1], strict=True)
        except ValueError:
            limit = PAGE_SIZE
    try:
        offset = _positive_int(args.getlist("offset")[-1], strict=False) if "offset" in args else 0
    except ValueError:
        offset = 0
    count = len(items)
    page = [] if count == 0 or offset > count else items[offset : offset + limit]
    if call.switches.drop_per_page:
        page = page[: max(0, len(page) - call.switches.drop_per_page)]
    url = call.absolute_url()
    next_url = None
    if offset + limit < count:
        next_url = with_query(with_query(url, "limit", limit), "offset", offset + limit)
    previous_url = None
    if offset > 0:
        previous_url = with_query(url, "limit", limit)
        previous_url = with_query(previous_url, "offset", None if offset - limit <= 0 else offset - limit)
    return {"count": count, "next": next_url, "previous": previous_url, "results": [render(item) for item in page]}


def json_response(status: int, payload: Any, allowed: str) -> Response:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(
        body, status=status, content_type="application/json", headers={"Allow": allowed, "Vary": "Accept"}
    )


def empty_response(status: int) -> Response:
    return Response(b"", status=status, content_type="application/json")


def django_404(path: str) -> Response:
    # No route matched: Django's own page (DEBUG off), not JSON. This is what a wrong trailing slash gets.
    body = f"<h1>Not Found</h1><p>The requested URL {path} was not found on this server.</p>"
    return Response(body.encode(), status=404, content_type="text/html")


def options_body() -> dict[str, Any]:
    return {
        "name": "Deis API",
        "description": "",
        "renders": ["application/json"],
        "parses": ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"],
    }
