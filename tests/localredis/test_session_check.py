"""The suite's own session-end check: a redis-server a test leaves running fails the run and is killed."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import localredis

LEAKY = Path(__file__).with_name("leaky_session.py")


def test_a_session_that_leaves_a_redis_server_fails_and_the_server_is_killed(tmp_path):
    inner = tmp_path / "inner"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={inner}", str(LEAKY)],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[2],
    )
    output = done.stdout + done.stderr
    assert "1 passed" in output, output  # the test itself passed: the check failed the run
    assert done.returncode == 1, output
    assert "embedded redis-servers left running by this session (killed now)" in output
    leaked = inner / "test_leaves_a_server_running0"
    assert f"in {leaked}" in output
    deadline = time.monotonic() + 30
    while localredis.servers_of(leaked):
        assert time.monotonic() < deadline, "the leaked server still runs"
        time.sleep(0.1)
