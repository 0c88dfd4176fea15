"""How many examples each property and fuzzer ran, for the figures the suite prints at its end."""
from __future__ import annotations

from collections import Counter

RAN: Counter[str] = Counter()


def count(name: str) -> None:
    """Record one example of the property or fuzzer `name`."""
    RAN[name] += 1
