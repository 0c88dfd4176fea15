"""The embedded redis-server of a folder: processes starting at the same moment join one server, it lives while any
of them lives, and it goes when the last one exits, is SIGKILLed, or the server itself ignores SIGTERM."""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from redis import Redis

import localredis

WAIT_SECONDS = 60  # generous bound for a loaded machine; nothing here measures speed
OWNER = """
import sys, localredis
print(localredis.join(sys.argv[1]), flush=True)
sys.stdin.read()  # lives until the test closes our stdin (or kills us)
"""


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"still waiting: {what}"
        time.sleep(0.1)


def start_owner(folder: Path, **env: str) -> tuple[subprocess.Popen, str]:
    """A separate process that joins the folder's server and holds it until its stdin closes."""
    process = subprocess.Popen([sys.executable, "-c", OWNER, str(folder)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, env={**os.environ, **env})
    url = process.stdout.readline().strip()
    assert url.startswith("unix://"), process.communicate()
    return process, url


def end(process: subprocess.Popen) -> None:
    process.stdin.close()
    process.wait(timeout=WAIT_SECONDS)


def answers(url: str) -> bool:
    try:
        with Redis.from_url(url, socket_timeout=2) as client:
            return client.ping()
    except Exception:  # noqa: BLE001 - a refused or vanished socket is the answer "no"
        return False


def _panel_url(folder: str) -> str:
    from app.embedded_redis import embedded_redis_url

    return embedded_redis_url(Path(folder))


def _dbapi_url(folder: str) -> str:
    from dbapi.embedded import embedded_redis_url

    return embedded_redis_url(Path(folder))


ENTRY_POINTS = {"localredis": localredis.join, "panel": _panel_url, "dbapi": _dbapi_url}


def _join_together(entry: str, folder: str, barrier, urls, release) -> None:
    barrier.wait()  # all four call at the same moment
    urls.put((os.getpid(), ENTRY_POINTS[entry](folder)))
    release.wait(WAIT_SECONDS)


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_four_processes_started_at_once_join_one_server(tmp_path, entry):
    folder = tmp_path / "data"
    context = multiprocessing.get_context("spawn")
    barrier, urls, release = context.Barrier(4), context.Queue(), context.Event()
    processes = [context.Process(target=_join_together, args=(entry, str(folder), barrier, urls, release))
                 for _ in range(4)]
    for process in processes:
        process.start()
    try:
        joined = dict(urls.get(timeout=WAIT_SECONDS) for _ in processes)
        assert len(set(joined.values())) == 1, joined
        served = folder / "redis" if entry == "dbapi" else folder
        assert len(localredis.servers_of(served)) == 1
        [url] = set(joined.values())
        assert answers(url)
        record = json.loads((served / localredis.RECORD).read_text())
        assert sorted(owner[0] for owner in record["owners"]) == sorted(joined)
    finally:
        release.set()
        for process in processes:
            process.join(WAIT_SECONDS)
    wait_until(lambda: not localredis.servers_of(served) and not (served / localredis.RECORD).exists(),
               "the server to stop after its last owner exited, and its record to go")


def test_the_server_lives_while_any_owner_lives(tmp_path):
    first, url = start_owner(tmp_path)
    second, second_url = start_owner(tmp_path)
    assert second_url == url
    Redis.from_url(url).set("kept", "yes")
    first.send_signal(signal.SIGKILL)  # the one that started it crashes
    first.wait()
    time.sleep(1)  # several keeper polls: long enough for a wrong keeper to have stopped it
    assert answers(url) and Redis.from_url(url).get("kept") == b"yes"
    assert len(localredis.servers_of(tmp_path)) == 1
    end(second)
    wait_until(lambda: not localredis.servers_of(tmp_path), "the server to stop with its last owner")


def test_the_server_goes_when_its_only_owner_is_sigkilled(tmp_path):
    owner, url = start_owner(tmp_path)
    [server] = localredis.servers_of(tmp_path)
    keeper = json.loads((tmp_path / localredis.RECORD).read_text())["keeper"]
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    wait_until(lambda: not server.is_running() or server.status() == "zombie", "the server to stop")
    wait_until(lambda: not localredis.is_alive(keeper), "the keeper to exit")
    assert not answers(url)
    # A later process starts a fresh one in the same folder.
    again, again_url = start_owner(tmp_path)
    assert answers(again_url)
    end(again)
    wait_until(lambda: not localredis.servers_of(tmp_path), "the second server to stop")


def test_a_killed_keeper_takes_its_server_along(tmp_path):
    owner, url = start_owner(tmp_path)
    [server] = localredis.servers_of(tmp_path)
    keeper = json.loads((tmp_path / localredis.RECORD).read_text())["keeper"]
    os.kill(int(keeper[0]), signal.SIGKILL)
    wait_until(lambda: not localredis.servers_of(tmp_path), "the server to die with its keeper")
    end(owner)


def test_a_server_that_ignores_sigterm_gets_sigkill_after_the_grace_period(tmp_path):
    owner, url = start_owner(tmp_path, LOCALREDIS_STOP_GRACE_SECONDS="1")
    [server] = localredis.servers_of(tmp_path)
    server.send_signal(signal.SIGSTOP)  # a stopped process acts on neither SHUTDOWN nor SIGTERM; SIGKILL still works
    try:
        end(owner)
        wait_until(lambda: not localredis.servers_of(tmp_path), "the stuck server to be killed")
    finally:
        if server.is_running():
            server.send_signal(signal.SIGKILL)
    log = (tmp_path / localredis.KEEPER_LOG).read_text()
    assert "sending SIGKILL" in log


def test_a_record_left_by_a_dead_server_is_replaced(tmp_path):
    (tmp_path / localredis.RECORD).write_text(json.dumps(
        {"socket": str(tmp_path / "gone.sock"), "keeper": [2**22 + 7, 1.0], "owners": [[2**22 + 8, 1.0]]}))
    url = localredis.join(tmp_path)
    try:
        assert answers(url) and url == f"unix://{tmp_path / localredis.SOCKET}"
        record = json.loads((tmp_path / localredis.RECORD).read_text())
        assert [owner[0] for owner in record["owners"]] == [os.getpid()]
    finally:
        localredis.leave(tmp_path, wait=True)
    assert not localredis.servers_of(tmp_path)
