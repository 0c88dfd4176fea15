"""Recognising secrets so pages, logs, errors and the audit log never show them.

Three entry points, one set of rules:
- `is_secret(key, value)`: whether a setting (an app's config variable, a tag, an audit field) must be masked, by
  its name (`STRIPE_KEY`, `DB_PWD`, ...) or by the shape of its value (a URL with credentials, a PEM block, a JWT,
  an AWS access key id, a long random string);
- `redact(payload)`: a copy of a dict/list structure with every secret value masked (the audit log);
- `redact_text(text)`: free text (sync and job errors, log lines) with the secrets inside it masked.

`configure()` (called by the app factory from `SECRET_CONFIG_KEYS` / `PUBLIC_CONFIG_KEYS`) extends or exempts key
names; it is process-wide because logs and the audit log have no app at hand.
"""
from __future__ import annotations

import logging
import math
import re
from collections import Counter
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

MASK = "••••••"
# Any of these inside a key name makes it secret: DB_PWD, STRIPE_KEY, RAILS_MASTER_KEY, SESSION_SECRET, APIKEY.
SECRET_KEY_WORDS = ("KEY", "SECRET", "TOKEN", "PASS", "PWD", "PASSWORD", "CREDENTIAL", "PRIVATE", "DSN", "SALT",
                    "SIGNING", "CERT", "AUTH", "COOKIE", "SESSION")
SECRET_KEY_PATTERN = re.compile("|".join(SECRET_KEY_WORDS), re.IGNORECASE)

# Shapes of values that are secret whatever their key is called.
URL_WITH_USERINFO = re.compile(r"[a-z][a-z0-9+.-]*://[^\s/?#@]*@", re.IGNORECASE)
PEM_BLOCK = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|\Z)", re.DOTALL)
JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
AWS_ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA|ABIA|ACCA)[A-Z0-9]{16}\b")

# A long random-looking string: 24+ characters with more than 4 bits of entropy per character (a 24-character
# base64 secret has about 4.3; English words, host names and paths stay well below), or 32+ hex digits (hex has at
# most 4 bits per character, so it gets its own rule).
HIGH_ENTROPY_MIN_LENGTH = 24
HIGH_ENTROPY_BITS = 4.0
HEX_SECRET = re.compile(r"^[0-9a-fA-F]{32,}$")
TOKEN_CHARACTERS = re.compile(r"^[A-Za-z0-9+/=_.~-]+$")
TOKEN_SEPARATORS = re.compile(r"[_.~/-]")
WORD = re.compile(r"[A-Z]?[a-z]{3,}")
# Values with a structure that says what they are, never random: host names, dotted names, ids with separators.
HOST_NAME = re.compile(r"^(?=.*[a-z])[a-z0-9-]+(?:\.[a-z0-9-]+)+\.?$", re.IGNORECASE)
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)

# Secrets inside free text.
_TEXT_URL_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<userinfo>[^\s/?#'\"<>]*)@", re.IGNORECASE)
_TEXT_AUTH_HEADER = re.compile(
    r"(?P<name>\b(?:proxy-)?authorization\b['\"]?\s*[:=]\s*['\"]?)(?P<scheme>(?:bearer|basic|token|digest|"
    r"apikey)\s+)?(?P<credential>[^\s'\",;]+)",
    re.IGNORECASE,
)
_TEXT_KEY_VALUE = re.compile(
    r"(?P<name>\b[\w.-]*(?:token|secret|passw(?:or)?d|pwd|api[_-]?key|access[_-]?key|private[_-]?key|credential|"
    r"signature|session|cookie)[\w.-]*['\"]?\s*[:=]\s*['\"]?)(?P<value>[^\s'\"&,;<>]+)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class KeyPolicy:
    """Key names an operator added to the secrets (`SECRET_CONFIG_KEYS`) or exempted from masking
    (`PUBLIC_CONFIG_KEYS`); names match case-insensitively, `*` matches anything."""

    secret_keys: tuple[str, ...] = ()
    public_keys: tuple[str, ...] = ()

    def lists(self, key: str, names: tuple[str, ...]) -> bool:
        return any(fnmatchcase(key.upper(), name.upper()) for name in names)


_policy = KeyPolicy()


def configure(secret_keys: tuple[str, ...] = (), public_keys: tuple[str, ...] = ()) -> KeyPolicy:
    """Set the process-wide key lists; returns the previous policy (so tests can put it back)."""
    global _policy
    previous, _policy = _policy, KeyPolicy(tuple(secret_keys), tuple(public_keys))
    return previous


def restore(policy: KeyPolicy) -> None:
    """Put back a policy returned by `configure`."""
    global _policy
    _policy = policy


def shannon_entropy(text: str) -> float:
    """Bits of information per character of `text`, from its own character frequencies."""
    if not text:
        return 0.0
    counts, length = Counter(text), len(text)
    return -sum(count / length * math.log2(count / length) for count in counts.values())


def looks_random(value: str) -> bool:
    """Whether `value` is a long random-looking token (an API key, a signing secret), not an ordinary value."""
    value = value.strip()
    if len(value) < HIGH_ENTROPY_MIN_LENGTH or not TOKEN_CHARACTERS.match(value):
        return False  # short, or has spaces, colons, '@'...: a sentence, a list, a URL, an address
    if HOST_NAME.match(value) or UUID.match(value) or value.startswith(("/", "./", "~")):
        return False
    if HEX_SECRET.match(value):
        return True
    # Identifiers made of words (storefront_production_2024, MyApplicationServer42) reach 4 bits too; random
    # tokens have a long unbroken stretch and few runs of lowercase letters.
    longest_part = max(len(part) for part in TOKEN_SEPARATORS.split(value))
    wordy = sum(len(word) for word in WORD.findall(value)) / len(value)
    return longest_part >= 12 and wordy < 0.5 and shannon_entropy(value) > HIGH_ENTROPY_BITS


def secret_value(value: str) -> bool:
    """Whether a value is secret by its shape alone, whatever it is called."""
    return bool(
        URL_WITH_USERINFO.search(value) or PEM_BLOCK.search(value) or JWT.search(value)
        or AWS_ACCESS_KEY_ID.search(value) or looks_random(value)
    )


def secret_key(key: str, policy: KeyPolicy | None = None) -> bool:
    """Whether the name alone makes a setting secret (the operator's lists first, then the built-in words)."""
    policy = policy or _policy
    if policy.lists(key, policy.public_keys):
        return False
    return policy.lists(key, policy.secret_keys) or bool(SECRET_KEY_PATTERN.search(key))


def is_secret(key: str, value: Any = None, policy: KeyPolicy | None = None) -> bool:
    """Whether a setting called `key` (holding `value`) should be masked.

    A key in `PUBLIC_CONFIG_KEYS` is never masked: the operator said its value is not secret.
    """
    policy = policy or _policy
    if policy.lists(key, policy.public_keys):
        return False
    if secret_key(key, policy):
        return True
    return isinstance(value, str) and secret_value(value)


def redact(payload: Any, policy: KeyPolicy | None = None) -> Any:
    """A copy of `payload` with every secret value replaced by the mask, recursively; free text is redacted too."""
    policy = policy or _policy
    if isinstance(payload, dict):
        return {key: _redact_entry(key, value, policy) for key, value in payload.items()}
    if isinstance(payload, (list, tuple)):
        return [redact(item, policy) for item in payload]
    if isinstance(payload, str):
        if any(character.isspace() for character in payload.strip()):
            return redact_text(payload)  # prose keeps its words; only the credentials inside it go
        return MASK if secret_value(payload) else payload
    return payload


def _redact_entry(key: Any, value: Any, policy: KeyPolicy) -> Any:
    if not isinstance(key, str) or value in (None, ""):
        return redact(value, policy)
    if policy.lists(key, policy.public_keys):
        return value
    return MASK if secret_key(key, policy) else redact(value, policy)


def _mask_userinfo(match: re.Match) -> str:
    user, colon, _ = match["userinfo"].partition(":")
    # Keep the user name when there is a password (it tells the operator which account); a lone user part may
    # itself be a token (https://<token>@github.com), so it goes.
    return f"{match['scheme']}{user}:{MASK}@" if colon else f"{match['scheme']}{MASK}@"


def redact_text(text: str | None) -> str | None:
    """`text` with credentials in URLs, Authorization headers, token=... pairs, JWTs, AWS keys and PEM blocks masked."""
    if not text:
        return text
    text = PEM_BLOCK.sub(MASK, text)
    text = _TEXT_URL_USERINFO.sub(_mask_userinfo, text)
    text = _TEXT_AUTH_HEADER.sub(lambda m: f"{m['name']}{m['scheme'] or ''}{MASK}", text)
    text = _TEXT_KEY_VALUE.sub(lambda m: m["name"] + (m["value"] if m["value"] == MASK else MASK), text)
    text = JWT.sub(MASK, text)
    return AWS_ACCESS_KEY_ID.sub(MASK, text)


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites each record's message (and traceback) with `redact_text` applied."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: log it as written rather than lose the record
            message = str(record.msg)
        record.msg, record.args = redact_text(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        record._redacted = True
        return True


_log_filter = RedactingFilter()


def install_log_redaction() -> None:
    """Redact every log record of this process, whichever logger or handler it goes through (idempotent).

    A filter on a logger sees only records logged to that very logger, and handlers come and go (gunicorn's, RQ's,
    pytest's), so the filter runs where every record is made: in the record factory. It also sits on the root
    logger's handlers present now, for records built by hand.
    """
    factory = logging.getLogRecordFactory()
    if not getattr(factory, "redacting", False):
        def redacting_factory(*args, **kwargs) -> logging.LogRecord:
            record = factory(*args, **kwargs)
            _log_filter.filter(record)
            return record

        redacting_factory.redacting = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(redacting_factory)
    for handler in logging.getLogger().handlers:
        if _log_filter not in handler.filters:
            handler.addFilter(_log_filter)
