"""The two ways a request for work goes wrong: refused at request time, or failed while running."""
from __future__ import annotations


class Refused(Exception):
    """A request refused before any work starts (nothing changed); `status` is the HTTP answer (404, 409, 422)."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field  # the request field at fault, for 422 answers


class OperationFailed(Exception):
    """An expected failure while running, with a message meant for the caller (it goes into the callback)."""
