"""What an operator pastes into the search box, read the way they meant it: a URL stands for its host, and a name
with a typo still finds the app ("did you mean checkout")."""
from __future__ import annotations

import difflib
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import App

NEAR_MISSES = 3
NEAR_MISS_CUTOFF = 0.75
NEAR_MISS_MIN_LENGTH = 3
# A typo changes a name's length by a character or two: comparing only names of about the same length keeps the
# comparison to a small slice of ten thousand apps.
LENGTH_SLACK = 3


def pasted_host(text: str) -> str | None:
    """The host of a pasted URL (`https://shop.example.com/cart` → `shop.example.com`), None for anything else."""
    text = text.strip()
    if "://" in text:
        candidate = text
    elif "/" in text and "." in text.split("/", 1)[0] and " " not in text:
        candidate = "//" + text  # `shop.example.com/cart`: a URL without its scheme
    else:
        return None
    try:
        host = urlsplit(candidate).hostname
    except ValueError:
        return None
    return host.rstrip(".") if host else None


def near_misses(session: Session, text: str) -> list[str]:
    """App names close to `text` (a typo away), best first; nothing for short or non-name input."""
    text = text.strip().lower()
    if len(text) < NEAR_MISS_MIN_LENGTH or not any(character.isalpha() for character in text):
        return []
    names = list(session.scalars(
        select(App.name).where(func.length(App.name).between(len(text) - LENGTH_SLACK, len(text) + LENGTH_SLACK))
        .distinct()))
    return difflib.get_close_matches(text, [name.lower() for name in names], n=NEAR_MISSES, cutoff=NEAR_MISS_CUTOFF)
