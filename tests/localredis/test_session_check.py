"""The suite's own session-end check: a redis-server a test leaves running fails the run and is killed."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import localredis

LEAKY = Path(__file__).with_name("leaky_session.py")
CRASHING = Path(__file__).with_name("crashing_session.py")
WAIT_SECONDS = 60  # a bound for a loaded machine; nothing here measures speed


def test_a_session_that_leaves_a_redis_server_fails_and_the_server_is_killed(tmp_path):
    inner = tmp_path / "inner"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={inner}", str(LEAKY)],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[2],
        # The leaked server never stops by itself: waiting the usual 30 s for it to go would only cost time.
        env={**os.environ, "TEST_LEFTOVER_WAIT_SECONDS": "2"},
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


def test_a_sigkilled_session_leaves_no_redis_server_running(tmp_path):
    """A session that dies with no chance to clean up (SIGKILL: no atexit, no session-end check) still takes its
    embedded server along: the keeper sees its only owner gone."""
    ready = tmp_path / "ready"
    session = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={tmp_path / 'inner'}",
         str(CRASHING)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=Path(__file__).parents[2],
        env={**{key: value for key, value in os.environ.items() if key != "REDIS_URL"},
             "CRASHING_SESSION_READY": str(ready)},
    )
    try:
        deadline = time.monotonic() + WAIT_SECONDS * 3
        while not ready.exists():
            assert session.poll() is None, "the inner session ended before starting its server"
            assert time.monotonic() < deadline, "the inner session did not start its server"
            time.sleep(0.1)
        folder = Path(ready.read_text().splitlines()[0])
        [server] = localredis.servers_of(folder)
        keeper = json.loads((folder / localredis.RECORD).read_text())["keeper"]
    finally:
        session.send_signal(signal.SIGKILL)
        session.wait()
    deadline = time.monotonic() + WAIT_SECONDS
    while localredis.servers_of(folder) or localredis.is_alive(keeper):
        assert time.monotonic() < deadline, f"still running after its session was SIGKILLed: server {server.pid}"
        time.sleep(0.1)
