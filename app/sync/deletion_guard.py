"""The mass-deletion guard: a run never trusts one listing with deleting a large part of a scope.

A run that would delete more than `max_fraction` of a scope's apps, records or instances, and more than
`MAX_UNCONFIRMED` of them, deletes nothing and waits for an administrator's confirmation (netbox-sync and
external-dns make the same choice): a controller answering with half its apps is far likelier than half the apps
vanishing at once, and rows deleted by mistake take their panel-owned history with them.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_MAX_FRACTION = 0.2
MAX_UNCONFIRMED = 5  # this many deletions never need a confirmation, whatever the fraction

# {"apps": {"would_delete": 6, "of": 10}}: what a run held back, per kind of row.
PendingDeletions = dict[str, dict[str, int]]


def is_mass_deletion(would_delete: int, of: int, max_fraction: float) -> bool:
    """Whether deleting `would_delete` of a scope's `of` rows needs a confirmation."""
    return would_delete > MAX_UNCONFIRMED and would_delete > max_fraction * of


@dataclass
class DeletionGuard:
    """Decides, before each sweep, whether a run may delete; remembers what it held back.

    `allow_mass_delete` lets mass deletions through (the operator's `--allow-mass-delete`, or an admin's
    confirmation); `allow_up_to` bounds it to the number the admin saw, so a listing that shrank further since
    waits for a confirmation of its own instead of riding on the first one.
    """

    max_fraction: float = DEFAULT_MAX_FRACTION
    allow_mass_delete: bool = False
    allow_up_to: int | None = None
    pending: PendingDeletions = field(default_factory=dict)

    def permits(self, kind: str, would_delete: int, of: int) -> bool:
        """True when the run may delete `would_delete` of the scope's `of` rows of `kind`; else records it."""
        if not is_mass_deletion(would_delete, of, self.max_fraction):
            return True
        if self.allow_mass_delete and (self.allow_up_to is None or would_delete <= self.allow_up_to):
            return True
        self.pending[kind] = {"would_delete": would_delete, "of": of}
        return False


def describe(pending: Mapping[str, Mapping[str, int]] | None) -> str:
    """The held-back deletions in words: '6 of 10 apps (60%)', kinds joined with 'and'."""
    parts = []
    for kind, numbers in sorted((pending or {}).items()):
        would_delete, of = numbers.get("would_delete", 0), numbers.get("of", 0)
        share = f" ({100 * would_delete / of:.0f}%)" if of else ""
        parts.append(f"{would_delete} of {of} {kind}{share}")
    return " and ".join(parts)


def waiting_message(pending: Mapping[str, Mapping[str, int]]) -> str:
    """What a run that tripped the guard says on its SyncRun: the numbers, and that nothing was deleted."""
    return f"waiting for confirmation: would delete {describe(pending)}; nothing was deleted"
