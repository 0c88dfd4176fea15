"""Real `rq worker` processes of the panel that a test can SIGKILL mid-job, and what RQ does once a worker is dead."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rq import Queue
from rq.registry import StartedJobRegistry

ROOT = Path(__file__).resolve().parents[2]
# RQ keeps a started job's entry alive for its worker's heartbeat TTL: 90 s for a forking worker (monitoring interval
# + 60 s), the job's whole timeout + 60 s for dbapi's SimpleWorker (it cannot beat while it runs a job). Past it, the
# next worker maintenance finds the job abandoned. Tests jump there instead of waiting.
ABANDONED_AFTER_SECONDS = 7 * 24 * 3600


class PanelWorkers:
    """Starts `rq worker --worker-class jobs.worker.PanelWorker` with the given environment (each in its own process
    group, so SIGKILL takes its work horse down with it, as when a machine dies)."""

    def __init__(self, environ: dict[str, str], redis_url: str, log_dir: Path) -> None:
        self.environ = {**os.environ, **environ, "REDIS_URL": redis_url,
                        "PYTHONPATH": str(ROOT) + (":" + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH")
                                                   else "")}
        self.redis_url = redis_url
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen] = []

    def _command(self, queues: list[str], burst: bool) -> list[str]:
        return [sys.executable, "-m", "rq.cli", "worker", "--worker-class", "jobs.worker.PanelWorker",
                "-u", self.redis_url, *(["--burst"] if burst else []), *queues]

    def start(self, queues: list[str]) -> subprocess.Popen:
        log = open(self.log_dir / f"worker-{len(self.processes)}.log", "w")  # noqa: SIM115  (closed by the OS)
        process = subprocess.Popen(self._command(queues, burst=False), env=self.environ, cwd=ROOT, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        return process

    def burst(self, queues: list[str]) -> str:
        """Run every queued job of `queues` in a fresh worker, then return its output."""
        done = subprocess.run(self._command(queues, burst=True), env=self.environ, cwd=ROOT, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr

    def logs(self) -> str:
        return "\n".join(path.read_text() for path in sorted(self.log_dir.glob("worker-*.log")))

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                sigkill(process)


def sigkill(process: subprocess.Popen) -> None:
    """SIGKILL the worker and everything in its process group (its work horse, the pg tools it started)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def rq_notices_the_dead_worker(queue: Queue) -> None:
    """What the next worker's maintenance does once the dead worker's heartbeat ran out: the abandoned job fails
    (and its failure callback runs, in this process)."""
    StartedJobRegistry(queue=queue).cleanup(timestamp=time.time() + ABANDONED_AFTER_SECONDS)
