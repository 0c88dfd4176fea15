"""Reading listing parameters (page, sort, filters) from a query string, collecting clear errors instead of failing.

A bad value never raises: the reader falls back to the default and remembers a message the page shows (with 400).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

FLAG_VALUES = {"": None, "yes": True, "no": False}
MAX_PAGE = 10_000_000  # far past any real listing; larger numbers are typos or probes


class QueryReader:
    """Typed access to `request.args`; `errors` lists every parameter that was rejected and why."""

    def __init__(self, args: Mapping[str, str]) -> None:
        self.args = args
        self.errors: list[str] = []

    def text(self, name: str, max_length: int = 100) -> str:
        """Free text, stripped and cut to `max_length` characters (a longer search is never useful)."""
        return (self.args.get(name) or "").strip()[:max_length]

    def choice(self, name: str, choices: Iterable[str], default: str) -> str:
        """One of `choices`; anything else is an error and gives `default`."""
        allowed = list(choices)
        value = (self.args.get(name) or "").strip()
        if not value:
            return default
        if value not in allowed:
            self.errors.append(f"Unknown {name} {value[:40]!r}: choose one of {', '.join(allowed)}.")
            return default
        return value

    def optional_choice(self, name: str, choices: Iterable[str], label: str | None = None) -> str | None:
        """One of `choices` or nothing (empty means 'any')."""
        allowed = list(choices)
        value = (self.args.get(name) or "").strip()
        if not value:
            return None
        if value not in allowed:
            known = ", ".join(allowed) if allowed else "none are known yet"
            self.errors.append(f"No {label or name} called {value[:64]!r} (known: {known}).")
            return None
        return value

    def flag(self, name: str) -> bool | None:
        """'yes' → True, 'no' → False, empty → None (no filter)."""
        value = (self.args.get(name) or "").strip().lower()
        if value not in FLAG_VALUES:
            self.errors.append(f"Filter {name} takes 'yes' or 'no', not {value[:20]!r}.")
            return None
        return FLAG_VALUES[value]

    def page(self, name: str = "page") -> int:
        """A page number from 1 up (from parameter `name`); anything else is an error and gives page 1."""
        value = (self.args.get(name) or "").strip()
        if not value:
            return 1
        if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_PAGE:
            self.errors.append(f"Page must be a whole number from 1 to {MAX_PAGE:,}, not {value[:20]!r}.")
            return 1
        return int(value)


def cursor_param(reader: QueryReader, name: str) -> str | None:
    """An opaque page cursor (`after` / `before`), or None; checked by the pager that decodes it."""
    value = (reader.args.get(name) or "").strip()
    return value or None


def flag_param(value: bool | None) -> str | None:
    """A yes/no filter written back into a query string (None when the filter is off)."""
    return None if value is None else "yes" if value else "no"
