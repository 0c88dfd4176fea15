"""Not collected by the suite (no test_ prefix): run on its own by test_session_check.py, it leaves a redis-server
running on purpose so the session-end check must catch it."""
from __future__ import annotations

import subprocess

import localredis


def test_leaves_a_server_running(tmp_path):
    subprocess.Popen([localredis.redis_server_binary(), "--port", "0", "--unixsocket", str(tmp_path / "leak.sock"),
                      "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, start_new_session=True)
