"""`python -m sandbox --scenario demo [--env-file PATH] [--host 127.0.0.1]`: run the simulated platform.

Starts moto, one Deis controller per cluster, Cloudflare and the control endpoint on free ports, prints the panel's
environment as `KEY=value` lines, writes the same lines to PATH once every simulator answers (atomically), and serves
until SIGINT or SIGTERM. A scenario that cannot be loaded exits with code 2 and a one-line reason.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType

from sandbox.platform import Sandbox
from sandbox.scenario import ScenarioError, load

EXIT_BAD_SCENARIO = 2


def env_lines(env: dict[str, str]) -> str:
    """The environment as `KEY=value` lines (values are single-line: JSON is written compact)."""
    return "".join(f"{key}={value}\n" for key, value in env.items())


def write_env_file(path: Path, env: dict[str, str]) -> None:
    """Write the env file atomically: a reader sees either no file or the whole file, never a half-written one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(env_lines(env))
        os.chmod(temporary, 0o600)  # it holds tokens
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox until a signal arrives; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m sandbox", description="Run the simulated Deis/Cloudflare/AWS platform."
    )
    parser.add_argument("--scenario", default="demo", help="scenario name (demo, test) or path to a YAML file")
    parser.add_argument("--env-file", type=Path, help="write the KEY=value lines here once every simulator answers")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind every simulator to")
    options = parser.parse_args(argv)

    try:
        scenario = load(options.scenario)
    except ScenarioError as error:
        print(f"sandbox: bad scenario: {_one_line(error)}", file=sys.stderr)
        return EXIT_BAD_SCENARIO

    stopping = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    started = time.monotonic()
    sandbox = Sandbox(scenario, host=options.host)
    try:
        sandbox.start()
    except ScenarioError as error:
        # Valid on paper, refused by a simulator while seeding (e.g. an app config value Deis would reject).
        print(f"sandbox: bad scenario: {_one_line(error)}", file=sys.stderr)
        return EXIT_BAD_SCENARIO
    except OSError as error:
        print(f"sandbox: cannot serve on {options.host}: {_one_line(error)}", file=sys.stderr)
        return 1
    try:
        env = sandbox.env()
        sys.stdout.write(env_lines(env))
        sys.stdout.flush()
        if options.env_file is not None:
            write_env_file(options.env_file, env)
            sandbox.on_reseed = lambda reseeded: write_env_file(options.env_file, reseeded.env())
        print(
            f"sandbox: scenario {scenario.name} ready in {time.monotonic() - started:.1f} s; "
            f"control at {sandbox.control_url}; Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        while not stopping.wait(0.5):
            pass
    finally:
        sandbox.stop()
        # A stale env file would point the panel at dead ports.
        if options.env_file is not None:
            options.env_file.unlink(missing_ok=True)
    print("sandbox: stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
