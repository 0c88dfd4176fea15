"""The keeper of one embedded redis-server: `python -m localredis.keeper <folder> <socket> <redis-server> <grace>`.

Started by `localredis.join` (which holds the folder's lock and writes the record naming this keeper and the first
owner). Polls the owners in the record; once none is alive, stops the server (SHUTDOWN, then SIGTERM, then SIGKILL,
`grace` seconds apart) while holding the lock, so a process joining meanwhile waits and then starts a fresh one.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from localredis import _identity, _pdeathsig, is_alive, locked, read_record, remove_record, write_record

POLL_SECONDS = 0.2


def start_server(folder: Path, socket_path: str, binary: str) -> subprocess.Popen:
    """redis-server on a unix socket only (no TCP port), its data in `folder`, dying with this keeper."""
    return subprocess.Popen(
        [binary, "--port", "0", "--unixsocket", socket_path, "--unixsocketperm", "700", "--dir", str(folder),
         "--dbfilename", "dump.rdb", "--save", "900", "1", "--daemonize", "no", "--loglevel", "warning"],
        stdin=subprocess.DEVNULL, preexec_fn=_pdeathsig, close_fds=True,
    )


def stop_server(server: subprocess.Popen, socket_path: str, grace: float) -> None:
    """SHUTDOWN (it saves), then SIGTERM, then SIGKILL: a server that ignores the first two still goes."""
    from redis import Redis
    from redis.backoff import NoBackoff
    from redis.exceptions import RedisError
    from redis.retry import Retry

    if server.poll() is None:
        try:
            # No retries: redis-py's default (3, with backoff) made a server that does not answer cost about 14
            # grace periods here instead of one.
            with Redis(unix_socket_path=socket_path, socket_timeout=grace, socket_connect_timeout=grace,
                       retry=Retry(NoBackoff(), 0)) as client:
                client.shutdown()
        except (RedisError, OSError):
            pass  # SHUTDOWN closes the connection (an error here is normal), or the server does not answer
    for step in (signal.SIGTERM, signal.SIGKILL):
        try:
            server.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            print(f"redis-server {server.pid} still runs after {grace:g} s: sending {step.name}", flush=True)
            server.send_signal(step)
    server.wait()


def keep(folder: Path, socket_path: str, binary: str, grace: float) -> int:
    me = _identity(os.getpid())
    server = start_server(folder, socket_path, binary)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is for the owners, not for us
    while True:
        time.sleep(POLL_SECONDS)
        if server.poll() is not None:
            print(f"redis-server exited with {server.returncode}", flush=True)
            with locked(folder):
                record = read_record(folder)
                if record and record.get("keeper") == me:
                    remove_record(folder)
            return 1
        with locked(folder):
            record = read_record(folder)
            if record is None or record.get("keeper") != me:
                owners = []  # someone else's record (or none): this server serves nobody
            else:
                owners = [each for each in record["owners"] if is_alive(each)]
                if owners != record["owners"]:
                    record["owners"] = owners
                    write_record(folder, record)
            if owners and not stopping:
                continue
            stop_server(server, socket_path, grace)
            if record is not None and record.get("keeper") == me:
                remove_record(folder)
        if not socket_path.startswith(str(folder)):
            try:
                os.rmdir(os.path.dirname(socket_path))  # the short temporary folder the socket had
            except OSError:
                pass
        return 0


if __name__ == "__main__":
    folder_arg, socket_arg, binary_arg, grace_arg = sys.argv[1:5]
    sys.exit(keep(Path(folder_arg), socket_arg, binary_arg, float(grace_arg)))
