"""Where callbacks may be sent: the hosts of DBAPI_CALLBACK_HOSTS, https in production, never a link-local or cloud
metadata address.

A callback is a POST that dbapi makes to a URL its caller chose, so without these rules the service key would be a
way to make dbapi talk to its own network (the metadata service hands out cloud credentials). The rules are checked
when a request names a callback URL (refused with 422 before anything runs) and again before every delivery, since
what a name resolves to can change in between.

- ``DBAPI_CALLBACK_HOSTS`` entries are host names or IP addresses (``panel.internal``, ``10.0.0.8``), or
  ``*.example.com`` for any subdomain. Empty means any host (development only: production requires the list).
- Every address the host resolves to is checked: 169.254.0.0/16, fe80::/10, the metadata addresses, multicast and
  unspecified addresses are always refused, even for a listed host. In production, loopback, private and other
  non-global addresses are refused too unless the host itself is listed exactly (not through a ``*.`` entry).
"""
from __future__ import annotations

import re
import socket
from collections.abc import Callable, Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from urllib.parse import urlsplit

HOST_ENTRY = re.compile(r"(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
LINK_LOCAL = (ip_network("169.254.0.0/16"), ip_network("fe80::/10"))
# AWS/GCP/Azure IMDS, AWS IMDS over IPv6, Alibaba, Azure wire server, Oracle.
METADATA_ADDRESSES = frozenset(
    ip_address(text) for text in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "168.63.129.16", "192.0.0.192")
)

Resolver = Callable[[str, int], Sequence[str]]


class CallbackRefused(ValueError):
    """A callback URL that dbapi will not send to; the message says why and names the setting to change."""


class CallbackUnresolvable(CallbackRefused):
    """The callback host does not resolve (now): refused at request time, retried at delivery time."""


def parse_hosts(text: str) -> tuple[str, ...]:
    """The entries of a ``DBAPI_CALLBACK_HOSTS`` value (lowercased); ValueError naming the first bad one."""
    entries = []
    for raw in text.split(","):
        entry = raw.strip().lower().rstrip(".")
        if not entry:
            continue
        if not HOST_ENTRY.fullmatch(entry):
            raise ValueError(f"{raw.strip()!r} is not a host name, an IPv4 address or '*.domain'")
        entries.append(entry)
    return tuple(entries)


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (CallbackUnresolvable if none)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise CallbackUnresolvable(f"callback host {host!r} does not resolve: {error}") from None
    return sorted({str(info[4][0]) for info in infos})


def check_callback_url(
    url: str, *, allowed: Sequence[str], production: bool, resolver: Resolver = resolve
) -> None:
    """Raise ``CallbackRefused`` unless a callback may be POSTed to ``url`` under these rules (see the module)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise CallbackRefused("a callback URL must be http(s)")
    if production and parts.scheme != "https":
        raise CallbackRefused("callbacks must use https in production")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise CallbackRefused("a callback URL needs a host")
    listed = host in allowed
    if allowed and not listed and not any(
        entry.startswith("*.") and host.endswith(entry[1:]) for entry in allowed
    ):
        raise CallbackRefused(
            f"callback host {host!r} is not allowed (DBAPI_CALLBACK_HOSTS: {', '.join(allowed)})"
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise CallbackRefused("the callback URL has an invalid port") from None
    for text in resolver(host, port):
        address = _unmapped(ip_address(text.split("%", 1)[0]))
        if address in METADATA_ADDRESSES or any(address in network for network in LINK_LOCAL):
            raise CallbackRefused(
                f"callback host {host!r} resolves to {address}, a link-local or cloud metadata address"
            )
        if address.is_multicast or address.is_unspecified:
            raise CallbackRefused(f"callback host {host!r} resolves to {address}, which is not a host address")
        if production and not listed and not address.is_global:
            raise CallbackRefused(
                f"callback host {host!r} resolves to {address}, a loopback or private address; list the host "
                "itself in DBAPI_CALLBACK_HOSTS to allow it"
            )


def _unmapped(address: IPv4Address | IPv6Address) -> IPv4Address | IPv6Address:
    # ::ffff:169.254.169.254 is the metadata address too.
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
