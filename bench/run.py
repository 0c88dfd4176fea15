"""The benchmark runner: `make bench` (`--full`) and `make bench-quick` (`--quick`).

Runs each section (sync, web + monit, backup, and with --full the scale curve), prints a table, and writes
bench/results/latest.json: every figure a number, nested by the part of its name before the dot
({"sync": {"ratio": 1.2}}), plus "meta" (sizes, machine, when). Targets are printed next to the figures, never
asserted. `--only sync,web` runs some sections.

    .venv/bin/python bench/run.py --quick
    .venv/bin/python bench/run.py --full --only backup
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import time
import traceback
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench.common import FULL, QUICK, ROOT, Sizes  # noqa: E402

RESULTS = ROOT / "bench" / "results"
# (key, target as text, check) — printed, never asserted.
TARGETS = {
    "sync.ratio": ("<= 1.3", lambda value: value <= 1.3),
    "sync.noop_writes": ("= 0", lambda value: value == 0),
    "sync.fanout_ratio": ("<= 0.4", lambda value: value <= 0.4),
    "web.apps_list_ratio": ("<= 4", lambda value: value <= 4),
    "web.apps_page200_ratio": ("<= 4", lambda value: value <= 4),
    "web.apps_search_ratio": ("<= 4", lambda value: value <= 4),
    "web.app_page_ratio": ("<= 4", lambda value: value <= 4),
    "web.depth_ratio": ("<= 1.5", lambda value: value <= 1.5),
    "web.certificates_depth_ratio": ("<= 1.5", lambda value: value <= 1.5),
    "web.instances_depth_ratio": ("<= 1.5", lambda value: value <= 1.5),
    "web.dns_records_depth_ratio": ("<= 1.5", lambda value: value <= 1.5),
    "web.audit_depth_ratio": ("<= 1.5", lambda value: value <= 1.5),
    "monit.etag_ratio": ("<= 1.5", lambda value: value <= 1.5),
    "backup.ratio": (">= 0.8", lambda value: value >= 0.8),
    "backup.download_ratio": (">= 0.8", lambda value: value >= 0.8),
    "backup.peak_rss_mb": ("<= 150", lambda value: value <= 150),
}
SECTIONS = ("sync", "web", "backup", "scale")


STARTED = time.perf_counter()


def log(message: str) -> None:
    """A line of progress, stamped with the seconds since the run began (where the time goes, at a glance)."""
    stamp = f"[{time.perf_counter() - STARTED:5.0f} s] " if message.strip() and not message.startswith("\n") else ""
    print(stamp + message, flush=True)


def run_section(name: str, sizes: Sizes, results: dict, site=None) -> None:
    if name == "sync":
        from bench.section_sync import bench_sync
        results["sync"] = bench_sync(sizes, log=log, before_runs=site.ready if site is not None else None)
    elif name == "web":
        from bench.section_web import bench_web
        results["web"], results["monit"] = bench_web(sizes, log=log, site=site)
    elif name == "backup":
        from bench.section_backup import bench_backup
        results["backup"] = bench_backup(sizes, log=log)
    elif name == "scale":
        from bench.section_sync import bench_sync
        from bench.section_web import bench_web
        scale: dict[str, float] = {}
        for apps in sizes.scale_apps:
            log(f" scale: {apps} apps")
            sync = bench_sync(sizes, apps=apps, fanout=False, log=log)
            web, _ = bench_web(sizes, apps=apps, only=("baseline", "app_page"), log=log)
            scale[f"sync_s_{apps}"] = sync["full_s"]
            scale[f"sync_requests_{apps}"] = sync["requests"]
            scale[f"app_page_p50_ms_{apps}"] = web["app_page_p50_ms"]
            scale[f"app_page_ratio_{apps}"] = web["app_page_ratio"]
        first, last = sizes.scale_apps[0], sizes.scale_apps[-1]
        scale["sync_growth"] = scale[f"sync_s_{last}"] / scale[f"sync_s_{first}"]  # linear: about last / first
        scale["app_page_growth"] = scale[f"app_page_p50_ms_{last}"] / scale[f"app_page_p50_ms_{first}"]  # flat: ~1
        results["scale"] = scale


def table(results: dict) -> str:
    lines = [f"{'figure':<34}{'value':>14}  target"]
    for section, figures in results.items():
        if section == "meta":
            continue
        for key, value in figures.items():
            name = f"{section}.{key}"
            target, check = TARGETS.get(name, ("", None))
            verdict = "" if check is None else ("  ok" if check(value) else "  MISSED")
            shown = f"{value:,.0f}" if isinstance(value, int) or abs(value) >= 1000 else f"{value:.3g}"
            lines.append(f"{name:<34}{shown:>14}  {target}{verdict}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--quick", action="store_true", help="small sizes, no scale curve (make bench-quick)")
    mode.add_argument("--full", action="store_true", help="the issue's sizes and the scale curve (make bench)")
    parser.add_argument("--only", default="", help=f"comma-separated sections of {', '.join(SECTIONS)}")
    options = parser.parse_args()
    # SIGTERM (and SIGINT, ignored in a background job) unwind like an exception: every section's `finally` stops
    # the servers it started and drops its scratch databases.
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda signum, _frame: sys.exit(128 + signum))
    sizes = QUICK if options.quick else FULL
    chosen = [name for name in (options.only.split(",") if options.only else SECTIONS) if name]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    if not sizes.scale_apps and "scale" in chosen:
        chosen.remove("scale")
    started = time.perf_counter()
    results: dict = {}
    failed = []
    with ExitStack() as stack:
        site = None
        if "sync" in chosen and "web" in chosen:
            # The page benchmark's database is filled by another process while the sync benchmark seeds its
            # simulators (one busy core of two); the sync waits for it before its first timed run, so nothing
            # measured shares the machine with it.
            from bench.web_site import WebSite
            site = stack.enter_context(WebSite(sizes.web_apps, sizes.instances, sizes.records, background=True))
        for name in chosen:
            log(f"== {name}")
            tick = time.perf_counter()
            try:
                run_section(name, sizes, results, site)
            except Exception:  # noqa: BLE001 - one broken section must not hide the others' figures
                traceback.print_exc()
                failed.append(name)
            log(f"   ({time.perf_counter() - tick:.0f} s)")
            if name == "web" and site is not None:
                stack.close()  # the site's gunicorn and database go before the next section
    results["meta"] = {"mode": sizes.name, "seconds": round(time.perf_counter() - started, 1),
                       "at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": platform.platform(),
                       "cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2),
                       "sizes": {key: value for key, value in vars(sizes).items() if key != "name"},
                       "failed_sections": failed}
    RESULTS.mkdir(parents=True, exist_ok=True)
    previous = RESULTS / "latest.json"
    if options.only and previous.exists():
        # Some sections re-run: the others keep their last figures (meta says which sections this run measured).
        kept = json.loads(previous.read_text())
        if kept.get("meta", {}).get("mode") == sizes.name:
            for section, figures in kept.items():
                if section != "meta" and section not in results and section not in chosen:
                    results[section] = figures
            results["meta"]["kept_from"] = kept["meta"].get("at")
    results["meta"]["sections_run"] = chosen
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    log("\n" + table(results))
    log(f"\n{sizes.name} run in {results['meta']['seconds']:.0f} s; figures in {RESULTS / 'latest.json'}")
    if failed:
        sys.exit(f"sections that failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
