"""How long `deis-db` takes to start, and what it imports.

`deis-db` lives in `app/devcli/`, so Python runs `app/__init__.py` (the panel's factory: Flask, SQLAlchemy, the
models) before the CLI's own code. This bench shows the price: the median wall time of `deis-db --help` next to a
bare `python -c "import click, requests"` (what the CLI itself needs), and which heavy packages end up imported.

    .venv/bin/python bench/cli_start.py          # BENCH_RUNS=7 by default
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
RUNS = int(os.environ.get("BENCH_RUNS", "7"))
HEAVY = ("flask", "sqlalchemy", "flask_sqlalchemy", "alembic", "apiflask", "redis", "rq", "boto3")


def median_seconds(command: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    cli = BIN / "deis-db"
    if not cli.exists():
        raise SystemExit(f"{cli} is missing: `make install` first")
    bare = median_seconds([sys.executable, "-c", "import click, requests"])
    full = median_seconds([str(cli), "--help"])
    probe = ("import json, sys; import app.devcli.main; "
             f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    imported = json.loads(subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                                         text=True).stdout)
    print(f"runs: {RUNS} (median), load average {os.getloadavg()[0]:.2f}")
    print(f"python -c 'import click, requests': {bare:.2f} s")
    print(f"deis-db --help:                     {full:.2f} s  ({full - bare:+.2f} s for app/__init__.py)")
    print(f"heavy packages imported by app.devcli.main: {', '.join(imported) or 'none'}")


if __name__ == "__main__":
    main()
