"""Following a panel operation to its end (`--wait`, `deis-db wait`), with a progress bar on a terminal."""
from __future__ import annotations

import os
import sys
import time

import click

from app.devcli.api import EXIT_FAILED, ApiError, PanelApi

FINISHED = ("succeeded", "failed", "stale")
POLL_SECONDS_ENV = "DEIS_DB_POLL_SECONDS"  # how often to ask; 1s by default


def interactive() -> bool:
    """Progress bars only on a terminal: in logs and pipes they would be noise (click would print their label)."""
    return sys.stderr.isatty()


def poll_seconds() -> float:
    try:
        return max(0.05, float(os.environ.get(POLL_SECONDS_ENV, "1")))
    except ValueError:
        return 1.0


def follow(api: PanelApi, operation: dict, timeout: float, quiet: bool = False) -> dict:
    """Poll `operation` until it ends; returns its last state. Raises ApiError (exit 1) when `timeout` passes."""
    deadline = time.monotonic() + timeout
    label = f"{operation.get('kind') or 'operation'} {operation.get('id')}"
    shown = 0
    with click.progressbar(length=100, label=label, file=sys.stderr, show_eta=False,
                           hidden=quiet or not interactive()) as bar:
        while True:
            progress = _progress(operation)
            if progress > shown:
                bar.update(progress - shown)
                shown = progress
            if operation.get("state") in FINISHED:
                if operation.get("state") == "succeeded" and shown < 100:
                    bar.update(100 - shown)
                return operation
            if time.monotonic() > deadline:
                raise ApiError(f"Operation {operation.get('id')} is still {operation.get('state')} after {timeout:g}s;"
                               f" follow it with: deis-db wait {operation.get('id')}", EXIT_FAILED, body=
                               {"operation": operation})
            time.sleep(poll_seconds())
            operation = api.operation(int(operation["id"]))["operation"]


def _progress(operation: dict) -> int:
    try:
        return max(0, min(100, int(operation.get("progress") or 0)))
    except (TypeError, ValueError):
        return 0
