"""Signed callbacks: how an operation's result reaches the caller, at least once.

Each callback is a JSON POST to the operation's callback_url with
`X-Signature: t=<unix>,v1=<hex HMAC-SHA256(DBAPI_CALLBACK_SECRET, f"{t}.{body}")>` and `X-Operation-Id`. The worker
retries with exponential backoff (RQ `enqueue_in`) until a 2xx or until DBAPI_CALLBACK_MAX_SECONDS have passed since
the first attempt; attempts and delivery are recorded on the operation. Receivers must be idempotent on the
operation id (a delivery whose acknowledgement was lost is sent again).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
from datetime import datetime, timedelta
from typing import Any

import requests
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from rq import Queue

from dbapi import runtime
from dbapi.callback_hosts import CallbackRefused, CallbackUnresolvable, check_callback_url
from dbapi.config import Settings
from dbapi.crypto import MasterKeys, UnknownMasterKeyError
from dbapi.models import CallbackState, Operation, db, utcnow

log = logging.getLogger("dbapi.callbacks")

SIGNATURE_HEADER = "X-Signature"
OPERATION_HEADER = "X-Operation-Id"
DEFAULT_TOLERANCE_SECONDS = 300
REQUEST_TIMEOUT_SECONDS = 10
MAX_RETRY_DELAY_SECONDS = 600
_SEAL_INFO = b"dbapi callback body at rest/v1"
_NONCE_SIZE = 12


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The X-Signature header value for `body` sent at `timestamp` (unix seconds)."""
    signed = str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(
    secret: str, header: str, body: bytes, tolerance: int = DEFAULT_TOLERANCE_SECONDS, now: float | None = None
) -> bool:
    """True when `header` is a valid X-Signature for `body` made with `secret` within `tolerance` seconds of now.

    The reference implementation that docs/dbapi.md shows integrators (the panel uses the same scheme).
    """
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).partition(",v1=")[2]
    # Several v1 values are allowed so a sender can sign with an old and a new secret during rotation.
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)


def _seal_key(master_key: bytes) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=_SEAL_INFO).derive(master_key)


def seal(keys: MasterKeys, body: bytes) -> bytes:
    """Encrypt a pending callback body for storage (it may carry a new role's password)."""
    key_id = keys.current_id.encode("ascii")
    nonce = os.urandom(_NONCE_SIZE)
    sealed = AESGCM(_seal_key(keys.get(keys.current_id))).encrypt(nonce, body, key_id)
    return bytes([len(key_id)]) + key_id + nonce + sealed


def unseal(keys: MasterKeys, sealed: bytes) -> bytes:
    """Decrypt a body made by `seal`; raises ValueError if the key is gone or the bytes were altered."""
    try:
        nonce_at = 1 + sealed[0]
        key_id = sealed[1:nonce_at]
        key = keys.get(key_id.decode("ascii"))
        return AESGCM(_seal_key(key)).decrypt(
            sealed[nonce_at : nonce_at + _NONCE_SIZE], sealed[nonce_at + _NONCE_SIZE :], key_id
        )
    except (UnknownMasterKeyError, InvalidTag, UnicodeDecodeError, IndexError) as error:
        raise ValueError("the stored callback body cannot be opened with the configured master keys") from error


def encode(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact JSON with sorted keys, timestamps in ISO 8601."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, default=_iso).encode("utf-8")


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def attach(operation: Operation, payload: dict[str, Any], keys: MasterKeys) -> None:
    """Store the callback of a finishing `operation` (sealed) and mark it pending; the caller commits, in the same
    transaction as the operation's final state, so no one ever sees a finished operation without its callback."""
    if not operation.callback_url:
        return
    operation.callback_body_sealed = seal(keys, encode(payload))
    operation.callback_state = CallbackState.PENDING


def enqueue_first_attempt(operation: Operation, queue: Queue) -> None:
    """Queue the first delivery of a committed pending callback."""
    if operation.callback_state == CallbackState.PENDING:
        queue.enqueue(deliver, operation.id, job_id=f"callback-{operation.id}-0", result_ttl=0)


def deliver(operation_id: str) -> None:
    """RQ job: POST the stored callback once; on failure schedule the next attempt with exponential backoff."""
    context = runtime()
    operation = db.session.get(Operation, operation_id)
    if operation is None or operation.callback_state != CallbackState.PENDING or not operation.callback_body_sealed:
        return
    settings: Settings = context.settings
    now = utcnow()
    if operation.callback_first_attempt_at is None:
        operation.callback_first_attempt_at = now
    try:
        body = unseal(settings.master_keys, operation.callback_body_sealed)
    except ValueError as error:
        # Its master key was removed from DBAPI_MASTER_KEYS: this callback can never be sent; say so and stop.
        operation.callback_state = CallbackState.ABANDONED
        operation.callback_last_error = str(error)
        operation.callback_body_sealed = None
        db.session.commit()
        log.error("callback abandoned operation=%s: %s", operation.id, error)
        return
    operation.callback_attempts += 1
    attempt = operation.callback_attempts
    try:
        # Checked again now: the settings or what the host resolves to may have changed since the request.
        check_callback_url(operation.callback_url or "", allowed=settings.callback_hosts, production=settings.production)
    except CallbackUnresolvable as error:
        failure: str | None = str(error)
    except CallbackRefused as error:
        operation.callback_state = CallbackState.ABANDONED
        operation.callback_last_error = f"refused: {error}"[:1000]
        operation.callback_body_sealed = None
        db.session.commit()
        log.error("callback abandoned operation=%s: refused: %s", operation.id, error)
        return
    else:
        failure = _post(operation, body, settings)
    if failure is None:
        operation.callback_state = CallbackState.DELIVERED
        operation.callback_delivered_at = utcnow()
        operation.callback_last_error = None
        operation.callback_body_sealed = None
        db.session.commit()
        log.info("callback delivered operation=%s attempt=%d", operation.id, attempt)
        return
    operation.callback_last_error = failure[:1000]
    elapsed = (utcnow() - operation.callback_first_attempt_at).total_seconds()
    delay = min(settings.callback_retry_base_seconds * 2 ** (attempt - 1), MAX_RETRY_DELAY_SECONDS)
    if elapsed + delay > settings.callback_max_seconds:
        operation.callback_state = CallbackState.ABANDONED
        operation.callback_body_sealed = None
        db.session.commit()
        log.error("callback abandoned operation=%s after %d attempts over %.0fs: %s",
                  operation.id, attempt, elapsed, failure)
        return
    db.session.commit()
    log.warning("callback failed operation=%s attempt=%d (%s); retrying in %ds", operation.id, attempt, failure, delay)
    context.queue.enqueue_in(
        timedelta(seconds=delay), deliver, operation.id, job_id=f"callback-{operation.id}-{attempt}", result_ttl=0
    )


def _post(operation: Operation, body: bytes, settings: Settings) -> str | None:
    """POST one signed attempt; None on a 2xx, else why it failed."""
    timestamp = int(time.time())
    try:
        response = requests.post(
            operation.callback_url or "",
            data=body,
            headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(settings.callback_secret, body, timestamp),
                OPERATION_HEADER: operation.id,
                "User-Agent": "dbapi-callbacks/1",
            },
            timeout=REQUEST_TIMEOUT_SECONDS,
            allow_redirects=False,  # a redirect is not an acknowledgement; and never re-POST elsewhere
        )
    except requests.RequestException as error:
        return f"{type(error).__name__}: {error}"
    return None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
