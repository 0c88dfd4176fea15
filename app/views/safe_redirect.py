"""Where the panel may send a browser back to: its own pages only (an open redirect is a phishing aid)."""
from __future__ import annotations

import unicodedata
from urllib.parse import quote, unquote, urlsplit

MAX_LENGTH = 2048
DECODE_ROUNDS = 3  # %252F is %2F after one round and '/' after two; anything still encoded after three is refused
# Characters that stay as they are in the Location header; everything else (non-ASCII) is percent-encoded.
LOCATION_SAFE = "/?&=%#:@!$'()*+,;~-._"


def _acceptable(candidate: str) -> bool:
    if not candidate.startswith("/") or candidate.startswith(("//", "/\\")):
        return False
    if "\\" in candidate:
        return False  # browsers read a backslash as a slash: /\evil.example is //evil.example
    if any(unicodedata.category(character) in ("Cc", "Cf", "Zl", "Zp") for character in candidate):
        return False  # tabs and newlines are dropped by browsers (/\t/evil -> //evil) and break headers
    if any(character.isspace() for character in candidate[:2]):
        return False
    parts = urlsplit(candidate)
    return not parts.scheme and not parts.netloc


def local_path(target: str | None) -> str | None:
    """`target` when it is a path on this site (`/apps/?q=x`), ready for a Location header; None otherwise.

    Refused: anything with a scheme or a host (`https:evil`, `//evil`, `javascript:`), a backslash, a control or
    invisible character, and any of these hidden behind percent-encoding (`/%2F%2Fevil`, `/%09/evil`, `/%5Cevil`).
    """
    if not target or len(target) > MAX_LENGTH:
        return None
    candidate = target
    for _ in range(DECODE_ROUNDS):
        if not _acceptable(candidate):
            return None
        decoded = unquote(candidate)
        if decoded == candidate:
            break
        candidate = decoded
    else:
        if unquote(candidate) != candidate:
            return None
    if not _acceptable(candidate):
        return None
    return quote(target, safe=LOCATION_SAFE)
