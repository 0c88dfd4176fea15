"""Benchmark: build the `large` scenario and seed every simulator (moto, Deis per cluster, Cloudflare); print times.

Target (issue 3): generate + seed in under a minute on the development machine. Figures only, no assertions:
    python bench/sandbox_seed.py [--apps 5000] [--records 30000] [--instances 1500]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from sandbox.generate import generate_large  # noqa: E402
from sandbox.platform import Sandbox  # noqa: E402


def main() -> None:
    """Time generation, the first start (seeding everything), a cheap reset and a forced full reseed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=5000)
    parser.add_argument("--records", type=int, default=30000)
    parser.add_argument("--instances", type=int, default=1500)
    options = parser.parse_args()

    started = time.perf_counter()
    scenario = generate_large(options.apps, options.records, options.instances)
    generated = time.perf_counter()
    sandbox = Sandbox(scenario)
    try:
        sandbox.start()
        seeded = time.perf_counter()
        sandbox.reset()  # nothing changed: moto keeps its state, Deis and Cloudflare reseed in memory
        reset_done = time.perf_counter()
        sandbox.reseed(scenario)  # everything from scratch, moto included
        reseeded = time.perf_counter()
        records = (
            sum(len(sandbox.cloudflare.records(zone.name)) for zone in scenario.zones) if sandbox.cloudflare else 0
        )
        apps = sum(len(simulator.app_ids()) for simulator in sandbox.deis.values())
        instances = len(sandbox.aws.instances)
    finally:
        sandbox.stop()

    print(
        f"large scenario: {apps} apps on {len(scenario.clusters)} clusters, {records} records in "
        f"{len(scenario.zones)} zones, {instances} instances, {len(scenario.load_balancers)} load balancers"
    )
    print(f"generate_large:             {generated - started:6.2f} s")
    print(f"start (seed everything):    {seeded - generated:6.2f} s")
    print(f"generate + seed:            {seeded - started:6.2f} s   (target < 60 s)")
    print(f"reset, nothing changed:     {reset_done - seeded:6.2f} s")
    print(f"reseed, everything:         {reseeded - reset_done:6.2f} s")


if __name__ == "__main__":
    main()
