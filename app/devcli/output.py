"""What `deis-db` prints: plain aligned tables for people, the API's JSON with `--json` for scripts."""
from __future__ import annotations

import json
from typing import Any

import click


def emit_json(payload: Any) -> None:
    click.echo(json.dumps(payload, indent=2, sort_keys=True))


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip()
             for line in [headers, *rows]]
    return "\n".join(lines)


def when(value: str | None) -> str:
    """`2026-12-02T03:04:05Z` -> `2026-12-02 03:04:05Z`; missing -> `-`."""
    return value.replace("T", " ") if value else "-"


def size(value: int | None) -> str:
    if value is None:
        return "-"
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{int(amount)} B" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{value} B"


def text(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def backups_table(backups: list[dict]) -> str:
    rows = [[text(b.get("id")), text(b.get("kind")), text(b.get("state")), size(b.get("size_bytes")),
             when(b.get("started_at")), when(b.get("finished_at")), text(b.get("verification")),
             text(b.get("cloned_from"))] for b in backups]
    return table(["ID", "KIND", "STATE", "SIZE", "STARTED", "FINISHED", "VERIFIED", "CLONED FROM"], rows)


def app_info(app: dict) -> str:
    lines = [f"=== {app.get('name')} database"]
    database = app.get("database")
    if not database:
        lines.append(f"No database. Create one with: deis-db create -a {app.get('name')}")
    else:
        pairs = [("Name", database.get("name")), ("Host", database.get("host")), ("Port", database.get("port")),
                 ("User", database.get("username")), ("State", database.get("state")),
                 ("Created", when(database.get("created_at")))]
        lines += [f"{label + ':':<9}{text(value)}" for label, value in pairs]
        lines.append("The password is in the app's DATABASE_URL: deis config:list -a " + str(app.get("name")))
    summary = app.get("backups") or {}
    count = summary.get("count") or 0
    latest = (f", latest {when(summary.get('latest_at'))} ({text(summary.get('latest_state'))})"
              if count else "")
    lines.append(f"{'Backups:':<9}{count}{latest}")
    lines.append(f"{'Cluster:':<9}{text(app.get('cluster'))}    Owner: {text(app.get('owner'))}")
    return "\n".join(lines)


def operation_line(operation: dict) -> str:
    progress = operation.get("progress")
    message = operation.get("error") or operation.get("message")
    if message == "done":
        message = None
    parts = [f"operation {operation.get('id')} ({operation.get('kind')}): {operation.get('state')}"]
    if progress is not None and operation.get("state") in ("pending", "running"):
        parts.append(f"{progress}%")
    if message:
        parts.append(f"- {message}")
    return " ".join(parts)
