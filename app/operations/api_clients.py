"""API clients (Chef, internal tools): creating one with a bearer token shown once, revoking it, checking a token.

Only a SHA-256 of the token is stored. The token carries 256 random bits, so a fast hash is enough (nothing to
brute-force) and lets a request find its client by an indexed lookup.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app import audit
from app.models import ApiClient, utcnow

SCOPES = ("monit:read",)
NAME_MAX = 64
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]*")
TOKEN_PREFIX = "apc_"  # makes a leaked token recognisable to secret scanners and to people
# How stale "last used" may get: one write per client per this period, not one per request.
LAST_USED_RESOLUTION = timedelta(minutes=5)


class ApiClientError(ValueError):
    """A request about API clients that cannot be carried out; the message is shown as is."""


def token_hash(token: str) -> str:
    """What is stored for a token (and looked up when one is presented)."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_client(session: Session, name: str, scopes: list[str], actor: object) -> tuple[ApiClient, str]:
    """Create a client with `scopes`; returns it and its token (the only time the token exists in clear)."""
    name = name.strip().lower()
    if not NAME_PATTERN.fullmatch(name) or len(name) > NAME_MAX:
        raise ApiClientError(f"A client name is 1 to {NAME_MAX} characters: lowercase letters, digits, '.', '_' or"
                             " '-', starting with a letter or digit.")
    scopes = sorted(set(scopes))
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if not scopes or unknown:
        raise ApiClientError(f"Choose scopes from: {', '.join(SCOPES)}"
                             + (f" (unknown: {', '.join(unknown)})." if unknown else "."))
    existing = session.scalar(select(ApiClient).where(ApiClient.name == name))
    if existing is not None:
        state = "revoked" if existing.revoked_at else "active"
        raise ApiClientError(f"An API client called {name!r} already exists ({state}); choose another name.")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    client = ApiClient(name=name, token_hash=token_hash(token), scopes=scopes)
    session.add(client)
    session.flush()
    audit.record(session, actor=actor, action="api_client.create", target=client,
                 after={"name": name, "scopes": scopes})
    session.commit()
    return client, token


def revoke_client(session: Session, client: ApiClient, actor: object) -> None:
    """Stop the client's token from working, at once and for good (the client row stays for the record)."""
    if client.revoked_at is not None:
        raise ApiClientError(f"{client.name} was already revoked; nothing changed.")
    client.revoked_at = utcnow()
    audit.record(session, actor=actor, action="api_client.revoke", target=client, after={"name": client.name})
    session.commit()


def find_client(session: Session, name: str) -> ApiClient | None:
    """The client called `name`, revoked or not."""
    return session.scalar(select(ApiClient).where(ApiClient.name == name.strip().lower()))


def authenticate(session: Session, token: str, now: datetime | None = None) -> ApiClient | None:
    """The active client this bearer token belongs to, or None; notes when it was last used (coarsely)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        return None
    client = session.scalar(select(ApiClient).where(ApiClient.token_hash == token_hash(token)))
    if client is None or client.revoked_at is not None:
        return None
    now = now or utcnow()
    if client.last_used_at is None or now - client.last_used_at >= LAST_USED_RESOLUTION:
        # Conditional, so processes answering the same client at once write it once between them.
        session.execute(
            update(ApiClient)
            .where(ApiClient.id == client.id,
                   or_(ApiClient.last_used_at.is_(None), ApiClient.last_used_at <= now - LAST_USED_RESOLUTION))
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
        session.commit()
    return client
