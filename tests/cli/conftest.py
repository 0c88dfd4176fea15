"""The `deis-db` console script run as a real subprocess, with its own HOME (holding .deis/<profile>.json)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN_DIR = Path(sys.executable).parent
DEIS_DB = BIN_DIR / "deis-db"


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


@pytest.fixture
def deis_home(tmp_path) -> Path:
    home = tmp_path / "home"
    (home / ".deis").mkdir(parents=True)
    return home


def write_profile(home: Path, name: str = "client", **fields) -> Path:
    path = home / ".deis" / f"{name}.json"
    path.write_text(json.dumps(fields))
    path.chmod(0o600)
    return path


@pytest.fixture
def run_cli(deis_home, tmp_path):
    """`run_cli("backups", "-a", "shop", cwd=..., env={...}, program=...)` -> Run (exit code, stdout, stderr)."""
    if not DEIS_DB.exists():
        pytest.fail(f"{DEIS_DB} is missing: install the project into this venv (`make install`, or"
                    " `pip install -e .`) so the deis-db console script exists")
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)

    def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, program: str | Path = DEIS_DB,
            timeout: float = 300) -> Run:
        environ = {key: value for key, value in os.environ.items()
                   if key not in ("ADMIN_PANEL_URL", "DEIS_PROFILE") and not key.startswith("GIT_")}
        environ.update({"HOME": str(deis_home), "PATH": f"{BIN_DIR}{os.pathsep}{environ.get('PATH', '')}",
                        "DEIS_DB_POLL_SECONDS": "0.2", "NO_COLOR": "1"})
        environ.update(env or {})
        done = subprocess.run([str(program), *args], cwd=cwd or workdir, env=environ, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        return Run(done.returncode, done.stdout, done.stderr)

    return run
