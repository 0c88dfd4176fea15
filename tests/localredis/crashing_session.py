"""Not collected by the suite (no test_ prefix): run on its own by test_session_check.py, it starts the panel's
embedded redis-server the way the suite does, says where, and waits there to be SIGKILLed (a crashed session)."""
from __future__ import annotations

import os
import time
from pathlib import Path

from app.embedded_redis import embedded_redis_url


def test_waits_with_a_server_running(tmp_path):
    url = embedded_redis_url(tmp_path / "instance" / "redis")
    ready = Path(os.environ["CRASHING_SESSION_READY"])
    ready.with_suffix(".tmp").write_text(f"{tmp_path / 'instance' / 'redis'}\n{url}\n")
    ready.with_suffix(".tmp").replace(ready)
    time.sleep(600)  # the outer test SIGKILLs this session long before
