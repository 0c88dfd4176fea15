"""Who a developer's Deis token belongs to, and which apps it may see, exactly as that cluster's controller says.

The token is checked with the controller the developer named (`X-Deis-Controller`, which must be one of
DEIS_CLUSTERS) by `GET /v2/auth/whoami`; an app is visible when `GET /v2/apps/<app>` with the same token answers
(owner, shared users and admins: Deis decides). The answers are cached for `DEV_TOKEN_CACHE_SECONDS` in Redis, keyed
by a SHA-256 of token and controller, so every gunicorn worker shares them and neither the token nor anything it
could be rebuilt from is stored. Failed checks are never cached: a token that starts working is believed at once.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from app.cluster_settings import DeisClusterSettings
from app.services.deis import DeisClient, DeisError

CACHE_PREFIX = "admin-panel:devapi:"
# A Deis token is 40 hex digits; anything printable without spaces is let through to the controller, up to 512.
TOKEN_PATTERN = re.compile(r"[\x21-\x7e]{1,512}")
DEFAULT_PORTS = {"http": 80, "https": 443}


class AccessRefused(Exception):
    """The request cannot be served for this token; `status` and `code` are what the API answers."""

    def __init__(self, status: int, code: str, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.detail = status, code, message, detail


class Cache(Protocol):
    def get(self, name: str) -> bytes | None: ...

    def set(self, name: str, value: str, ex: int | None = None) -> Any: ...


@dataclass(frozen=True)
class Developer:
    """A Deis user as their controller vouched for them; `token_hash` names them in the cache, never the token."""

    username: str
    is_superuser: bool
    cluster: str
    controller: str
    token_hash: str

    @property
    def actor(self) -> str:
        """How the audit log names them: their Deis username, marked as coming from Deis."""
        return f"deis:{self.username}"


def normalise_controller(url: str) -> str | None:
    """`scheme://host[:port][/path]` lowercased, default port and trailing slash dropped; None if not an http(s) URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def cluster_for_controller(clusters: list[DeisClusterSettings], controller: str) -> DeisClusterSettings:
    """The configured cluster whose controller is `controller` (normalised), else AccessRefused(400)."""
    wanted = normalise_controller(controller)
    if wanted is None:
        raise AccessRefused(400, "bad_request", "X-Deis-Controller must be the controller's http(s) URL, as in "
                            "~/.deis/client.json.", {"header": "X-Deis-Controller"})
    for cluster in clusters:
        if normalise_controller(cluster.url) == wanted:
            return cluster
    raise AccessRefused(400, "unknown_controller", f"The controller {wanted[:200]} is not one of the clusters this "
                        "panel manages.", {"controller": wanted[:200]})


def token_from_header(header: str | None) -> str:
    """The token of `Authorization: token <deis token>`; AccessRefused 401 when absent or of another scheme, 400 when
    the `token` value is malformed."""
    if not header:
        raise AccessRefused(401, "not_signed_in", "Sign in with `deis login` first: send Authorization: token "
                            "<your Deis token>.")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "token":  # another scheme's credentials (RFC 9110: 401, naming the one we take)
        raise AccessRefused(401, "not_signed_in", "Send your Deis token as Authorization: token <your Deis token>.",
                            {"header": "Authorization"})
    if not TOKEN_PATTERN.fullmatch(token):
        raise AccessRefused(400, "bad_request", "The Authorization header must be `token <your Deis token>`: one "
                            "token, printable, without spaces.", {"header": "Authorization"})
    return token


class DeveloperAccess:
    """One token on one cluster: who it is and what it may see, asked of the controller at most once per TTL."""

    def __init__(self, cluster: DeisClusterSettings, token: str, cache: Cache, ttl_seconds: int,
                 client: Callable[[DeisClusterSettings, str], DeisClient] | None = None) -> None:
        self.cluster = cluster
        self.ttl = ttl_seconds
        self.cache = cache
        self.token_hash = hashlib.sha256(f"{token}\n{normalise_controller(cluster.url)}".encode()).hexdigest()
        self._client = (client or _developer_client)(cluster, token)

    # -- cache ------------------------------------------------------------------------------------------------------
    def _cached(self, suffix: str, ask: Callable[[], Any]) -> Any:
        key = f"{CACHE_PREFIX}{self.token_hash}:{suffix}"
        if self.ttl > 0:
            hit = self.cache.get(key)
            if hit is not None:
                return json.loads(hit)
        value = ask()
        if self.ttl > 0:
            self.cache.set(key, json.dumps(value), ex=self.ttl)
        return value

    # -- questions for the controller ------------------------------------------------------------------------------
    def developer(self) -> Developer:
        """The token's user (AccessRefused 401 when the controller does not know the token, 502 when unreachable)."""
        def ask() -> dict[str, Any]:
            try:
                user = self._client.whoami()
            except DeisError as error:
                raise _refusal(error, "whoami") from error
            return {"username": user.username, "is_superuser": user.is_superuser}

        who = self._cached("whoami", ask)
        return Developer(username=who["username"], is_superuser=bool(who["is_superuser"]), cluster=self.cluster.name,
                         controller=normalise_controller(self.cluster.url) or self.cluster.url,
                         token_hash=self.token_hash)

    def may_see(self, app_name: str) -> bool:
        """Whether the controller shows `app_name` to this token (403/404 there: no)."""
        def ask() -> bool:
            try:
                return self._client.get_app(app_name) is not None
            except DeisError as error:
                raise _refusal(error, "app") from error

        return bool(self._cached(f"app:{app_name}", ask))

    def visible_apps(self) -> set[str]:
        """The names of every app the controller lists for this token (all pages)."""
        def ask() -> list[str]:
            try:
                return sorted(app.id for app in self._client.list_apps())
            except DeisError as error:
                raise _refusal(error, "apps") from error

        return set(self._cached("apps", ask))


def _developer_client(cluster: DeisClusterSettings, token: str) -> DeisClient:
    # The developer's own token, the cluster's TLS settings and timeouts; two attempts at most (someone waits).
    return DeisClient(cluster.name, cluster.url, token, verify=cluster.verify, connect_timeout=cluster.connect_timeout,
                      read_timeout=min(cluster.read_timeout, 20.0), retries=1)


def _refusal(error: DeisError, asked: str) -> AccessRefused:
    if error.status in (401, 403):
        return AccessRefused(401, "not_signed_in", f"The controller of {error.cluster} does not accept this token "
                             "(expired, revoked, or of another cluster): run `deis login` again.")
    return AccessRefused(502, "upstream_unavailable", f"The controller of {error.cluster} could not be asked "
                         f"({asked}); try again shortly.", {"cluster": error.cluster})
