"""Download and upload tokens: signed, expiring, single-action, bound to one resource.

The panel asks for a token (service-authenticated) and hands it to a developer, who presents it to dbapi directly in
`Authorization: Bearer <token>`. A token is an `itsdangerous` signed payload (HMAC-SHA256 under
DBAPI_TOKEN_SECRET) naming its id, action, resource and expiry; every token also has a row in `tokens`, which is
what makes upload tokens single-use (an atomic conditional UPDATE) and what the audit log refers to. Only the token
id is ever logged, never the token.
"""
from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import update
from sqlalchemy.orm import Session

from dbapi.models import Token, utcnow

log = logging.getLogger("dbapi.tokens")

DOWNLOAD = "download"
UPLOAD = "upload"
ACTIONS = (DOWNLOAD, UPLOAD)
# Which kind of resource each action is bound to.
RESOURCE_FOR_ACTION = {DOWNLOAD: "backup", UPLOAD: "database"}
DEFAULT_TTL_SECONDS = 900
MAX_TTL_SECONDS = 3600
_SALT = "dbapi-resource-token/v1"


class TokenRefused(Exception):
    """A presented token that must not be honoured; `status` is 401 (not a valid token) or 403 (not for this)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class IssuedToken:
    """A freshly issued token: the secret string goes to the caller once, the id goes to logs."""

    token: str
    token_id: str
    expires_at: datetime


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt=_SALT, signer_kwargs={"digest_method": hashlib.sha256})


def issue(
    session: Session,
    secret: str,
    *,
    action: str,
    resource_id: str,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    callback_url: str | None = None,
) -> IssuedToken:
    """Sign a token for one action on one resource, record it, and log its id (the caller commits)."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
    if not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError(f"ttl_seconds must be between 1 and {MAX_TTL_SECONDS}")
    token_id = secrets.token_hex(16)
    issued_at = utcnow()
    expires_at = issued_at + timedelta(seconds=ttl_seconds)
    resource_kind = RESOURCE_FOR_ACTION[action]
    token = _serializer(secret).dumps(
        {"id": token_id, "act": action, "res": f"{resource_kind}:{resource_id}", "exp": int(expires_at.timestamp())}
    )
    session.add(
        Token(
            id=token_id,
            action=action,
            resource_kind=resource_kind,
            resource_id=resource_id,
            issued_at=issued_at,
            expires_at=expires_at,
            callback_url=callback_url,
        )
    )
    log.info(
        "token issued id=%s action=%s resource=%s:%s expires_at=%s",
        token_id, action, resource_kind, resource_id, expires_at.isoformat(),
    )
    return IssuedToken(token=token, token_id=token_id, expires_at=expires_at)


def check(
    session: Session, secret: str, presented: str, *, action: str, resource_id: str, now: datetime | None = None
) -> Token:
    """Return the token's record if `presented` allows `action` on `resource_id`; raise TokenRefused otherwise.

    Refusals are logged with the token id when the signature was valid (never with the token itself).
    """
    now = now or datetime.now(timezone.utc)
    try:
        payload = _serializer(secret).loads(presented)
    except BadSignature:
        log.warning("token refused: bad signature or malformed (action=%s resource=%r)", action, resource_id[:80])
        raise TokenRefused(401, "the token is invalid") from None
    if not isinstance(payload, dict) or not {"id", "act", "res", "exp"} <= payload.keys():
        log.warning("token refused: signed payload has an unexpected shape")
        raise TokenRefused(401, "the token is invalid")
    token_id = str(payload["id"])
    record = session.get(Token, token_id)
    if record is None:
        log.warning("token refused id=%s: not issued by this service", token_id)
        raise TokenRefused(401, "the token is invalid")
    if not isinstance(payload["exp"], int) or now.timestamp() >= payload["exp"] or now >= record.expires_at:
        log.warning("token refused id=%s: expired at %s", token_id, record.expires_at.isoformat())
        raise TokenRefused(401, "the token has expired")
    if payload["act"] != action or record.action != action:
        log.warning("token refused id=%s: issued for %s, presented for %s", token_id, record.action, action)
        raise TokenRefused(403, f"the token allows {record.action}, not {action}")
    expected = f"{RESOURCE_FOR_ACTION[action]}:{resource_id}"
    if payload["res"] != expected or f"{record.resource_kind}:{record.resource_id}" != expected:
        log.warning("token refused id=%s: bound to %s:%s, presented for %s", token_id,
                    record.resource_kind, record.resource_id, expected)
        raise TokenRefused(403, "the token is for a different resource")
    if action == UPLOAD and record.used_at is not None:
        log.warning("token refused id=%s: upload token already used at %s", token_id, record.used_at.isoformat())
        raise TokenRefused(403, "the upload token has already been used")
    return record


def record_use(session: Session, record: Token) -> None:
    """Mark a checked token as used, atomically: a single-use (upload) token can be claimed once only.

    Commits. Raises TokenRefused(403) when another request claimed the upload token first.
    """
    now = utcnow()
    statement = update(Token).where(Token.id == record.id).values(used_at=now, use_count=Token.use_count + 1)
    if record.action == UPLOAD:
        statement = statement.where(Token.used_at.is_(None))
    claimed = session.execute(statement).rowcount
    session.commit()
    if claimed != 1:
        log.warning("token refused id=%s: upload token already used (concurrent claim)", record.id)
        raise TokenRefused(403, "the upload token has already been used")
    session.refresh(record)
    log.info("token used id=%s action=%s resource=%s:%s", record.id, record.action,
             record.resource_kind, record.resource_id)
