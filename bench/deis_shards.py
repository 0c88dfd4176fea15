"""Deis controllers of the sync benchmark, served from their own processes.

In one process the simulators share one GIL: with 8 detail requests in flight per cluster and several workers, the
simulators' own Python (werkzeug, the controller's JSON) became the bottleneck and the benchmark measured them,
not the panel. Each shard process builds the same deterministic `large` scenario (`generate_large` is seeded) and
serves the Deis controllers of its clusters, each behind its FaultInjector (latency, request counts at
`/__sandbox/requests`), on free loopback ports.

    python -m bench.deis_shards --apps 1000 --records 6000 --instances 300 --latency-ms 5 --clusters a,b

prints one JSON line `{"<cluster>": {"url": ..., "token": ...}}` once every controller answers, then serves until
its stdin closes (the parent died or stopped it) or SIGTERM.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests

from bench.common import PYTHON, ROOT, stop

REQUESTS_PATH = "/__sandbox/requests"  # sandbox.faults.REQUESTS_PATH (not imported: the parent stays light)


def serve(options: argparse.Namespace) -> None:
    import logging

    from werkzeug.serving import make_server

    from sandbox.deis import DeisSimulator
    from sandbox.generate import generate_large

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    scenario = generate_large(apps=options.apps, records=options.records, instances=options.instances)
    servers, found = [], {}
    for name in options.clusters.split(","):
        simulator = DeisSimulator(scenario, name)
        simulator.faults.configure(latency_ms=options.latency_ms)
        server = make_server("127.0.0.1", 0, simulator.wsgi_app, threaded=True)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        found[name] = {"url": f"http://127.0.0.1:{server.server_port}",
                       "token": simulator.token_for(scenario.panel_user.username)}
    for each in found.values():
        requests.get(each["url"] + "/healthz", timeout=30)
    print(json.dumps(found), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))  # nothing to clean up; never mid-atexit
    sys.stdin.read()  # EOF: the parent is gone or done


class DeisShards:
    """The shard processes of one benchmark run: URLs and tokens by cluster (after `wait`), request counts read
    over HTTP."""

    def __init__(self, processes: list[subprocess.Popen]) -> None:
        self.processes = processes
        self.clusters: dict[str, dict[str, str]] = {}

    def wait(self) -> None:
        """Until every shard serves its controllers (each prints one line then)."""
        for process in self.processes:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"a Deis shard exited with {process.wait()} before serving")
            self.clusters.update(json.loads(line))

    def counts(self) -> dict[str, dict[str, Any]]:
        return {f"deis:{name}": requests.get(each["url"] + REQUESTS_PATH, timeout=30).json()
                for name, each in self.clusters.items()}

    def reset_counts(self) -> None:
        for each in self.clusters.values():
            requests.delete(each["url"] + REQUESTS_PATH, timeout=30).raise_for_status()

    def env(self, sandbox_env: dict[str, str]) -> dict[str, str]:
        """The sandbox's environment with the Deis clusters pointing at the shards."""
        clusters = json.loads(sandbox_env["DEIS_CLUSTERS"])
        for cluster in clusters:
            cluster.update(self.clusters[cluster["name"]])
        return {**sandbox_env, "DEIS_CLUSTERS": json.dumps(clusters, separators=(",", ":"))}


@contextmanager
def deis_shards(names: list[str], apps: int, records: int, instances: int, latency_ms: int,
                processes: int = 4) -> Iterator[DeisShards]:
    """Start the shards (call `wait()` before use); stopped, whatever happens, on the way out."""
    groups = [names[index::processes] for index in range(processes) if names[index::processes]]
    started = [subprocess.Popen(
        [PYTHON, "-m", "bench.deis_shards", "--apps", str(apps), "--records", str(records), "--instances",
         str(instances), "--latency-ms", str(latency_ms), "--clusters", ",".join(group)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for group in groups]
    try:
        yield DeisShards(started)
    finally:
        for process in started:
            try:
                process.stdin.close()
            except OSError:
                pass
            stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("apps", "records", "instances", "latency-ms"):
        parser.add_argument(f"--{name}", type=int, required=True)
    parser.add_argument("--clusters", required=True, help="comma-separated cluster names of the scenario")
    serve(parser.parse_args())


if __name__ == "__main__":
    main()
