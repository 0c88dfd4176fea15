"""What a monit check may point at: health paths, host names and internal tools' URLs.

Tenants control domains and health paths, and monit's control file has no escape sequences inside its quoted
strings (a `"` ends the string, a newline starts a new statement). So nothing is escaped: every value that reaches
the file must match an allowlist here, checked when it is entered (a clear message, nothing changes) and again
when the file is generated (a value that fails is left out of the file and reported instead).
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

HEALTH_PATH_MAX = 255
# RFC 3986 path and query characters, without the quote `'`: letters, digits, - . _ ~ ! $ & ( ) * + , ; = : @ % / ?
_URL_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&()*+,;=:@%/?]*")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})+")
TOOL_NAME_MAX = 64
_TOOL_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
TOOL_URL_MAX = 512
PATH_RULE = ('starts with "/" and holds only URL characters (letters, digits and - . _ ~ ! $ & ( ) * + , ; = : @ %'
             ' / ?): no spaces, quotes, backslashes or control characters')


class HealthCheckError(ValueError):
    """A value that cannot go into a monit check; the message says why, in words an operator can act on."""


def health_path_problem(path: str) -> str | None:
    """Why `path` cannot be an app's health path, or None when it can."""
    if not path.startswith("/"):
        return 'A health path starts with "/" (for example /healthz).'
    if len(path) > HEALTH_PATH_MAX:
        return f"A health path has at most {HEALTH_PATH_MAX} characters."
    if not _URL_PATH.fullmatch(path):
        return f"A health path {PATH_RULE}."
    return None


def checked_health_path(path: str) -> str:
    """`path` if it can be a health path; raises HealthCheckError otherwise."""
    problem = health_path_problem(path)
    if problem:
        raise HealthCheckError(problem)
    return path


def is_host_name(name: str) -> bool:
    """Whether `name` is a concrete DNS host name monit can check (lowercase, no wildcard, at least one dot)."""
    return bool(_HOST_NAME.fullmatch(name))


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class ToolAddress:
    """Where monit connects to check an internal tool: parsed from its URL, each part allowlisted."""

    protocol: str  # http | https
    host: str
    port: int
    path: str


def tool_name_problem(name: str) -> str | None:
    """Why `name` cannot name an internal tool, or None."""
    if not name or len(name) > TOOL_NAME_MAX or not _TOOL_NAME.fullmatch(name):
        return (f"A tool name is 1 to {TOOL_NAME_MAX} characters: lowercase letters, digits, '_' or '-', starting"
                " with a letter or digit.")
    return None


def parse_tool_url(url: str) -> ToolAddress:
    """The address monit checks for an internal tool's URL (http or https); raises HealthCheckError with why not."""
    if len(url) > TOOL_URL_MAX:
        raise HealthCheckError(f"A URL has at most {TOOL_URL_MAX} characters.")
    if any(character.isspace() or ord(character) < 32 or ord(character) == 127 for character in url):
        raise HealthCheckError("A URL holds no spaces or control characters.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise HealthCheckError("A tool's URL starts with https:// or http://.")
    if parts.username is not None or parts.password is not None:
        raise HealthCheckError("A tool's URL carries no user name or password (they would end up in monit's file).")
    if parts.fragment:
        raise HealthCheckError("A tool's URL has no #fragment (it is never sent to the server).")
    host = (parts.hostname or "").lower()
    if not (is_host_name(host) or _is_ip_address(host)) or ":" in host:
        raise HealthCheckError(f"{parts.netloc!r} is not a host name (like grafana.example.net) or an IPv4 address.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise HealthCheckError(f"The port in {parts.netloc!r} is not a number from 1 to 65535.") from error
    if not 1 <= port <= 65535:
        raise HealthCheckError(f"The port in {parts.netloc!r} is not a number from 1 to 65535.")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not _URL_PATH.fullmatch(path) or len(path) > HEALTH_PATH_MAX:
        raise HealthCheckError(f"The path of a tool's URL {PATH_RULE}, at most {HEALTH_PATH_MAX} characters.")
    return ToolAddress(parts.scheme, host, port, path)
