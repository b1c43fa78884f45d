#!/usr/bin/env python3
"""A long walk at a real portal's pace: 1,000,000 activities inside the portal's limits.

    python benchmarks/million.py                                  # 1,000,000 at time factor 0.1
    python benchmarks/million.py --rows 100000                    # a dry run

One emulator with ``compare.py``'s portal model (leaky bucket, operating-time limit, modelled
latency, all times x ``--time-factor``) and the tap in keyset mode with the same pacing as in
``compare.py``. While it runs, the emulator's ``/_emulator/stats`` is read every
``--sample`` seconds (modelled server seconds and requests) and the tap's RSS every
``--sample`` seconds. Reported (issue #13): 503 and 429 answers (none expected), the
operating time used in the busiest operating window (the stats' server seconds summed over any
600 x F seconds, against the portal's 480 s limit and the tap's 420 s budget), how many windows
the run spanned, wall time, peak RSS and whether RSS stays flat (second half of the run against
the first), the tap's own throttling waits, and every ID delivered exactly once.

The emulator does not report its operating-time windows; the busiest window here is computed
from the server-seconds series (all methods; crm.activity.list is all but 0.005 s a call), so
it is a close upper bound of the one method's figure. Writes
benchmarks/results/million-<rows>-tf<F>.json. Not part of the test suite.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness

if __name__ == "__main__":
    _harness.ensure_bench_venv(__file__)

import argparse
import re
import tempfile
import time
from datetime import datetime, timezone
from typing import Any

from _harness import LOGS, RESULTS, Emulator, StatsWatcher, free_port, machine, run_client
from compare import COST_MODEL, client_argv, cost_model_config, emulator_args, summarize

TAP_BUDGET = 420.0  # the tap's operating_limit default
_FINISHED = re.compile(r"Finished activities: .*?(\d+) throttling waits \(([\d.]+) s\)")


def busiest_window(history: list[list[float]], window: float) -> tuple[float, float]:
    """The most server seconds charged within any ``window`` seconds of wall time, and when.

    ``history`` holds [seconds, cumulative server seconds, requests] samples; each sample is
    compared with the last one at least ``window`` earlier (the run's start before that).
    """
    best, at = 0.0, 0.0
    start = 0
    for t, used, _ in history:
        while start + 1 < len(history) and history[start + 1][0] <= t - window:
            start += 1
        base = history[start][1] if history[start][0] <= t - window else 0.0
        if used - base > best:
            best, at = used - base, t
    return best, at


def memory_trend(samples: list[list[float]]) -> dict[str, Any]:
    """Peak RSS, the halves' peaks (after the first tenth: start-up) and the slope."""
    if len(samples) < 4:
        return {"samples": len(samples)}
    end = samples[-1][0]
    steady = [s for s in samples if s[0] >= end * 0.1]
    half = end * 0.55
    first = [mb for t, mb in steady if t < half] or [steady[0][1]]
    second = [mb for t, mb in steady if t >= half] or [steady[-1][1]]
    n = len(steady)
    mean_t = sum(t for t, _ in steady) / n
    mean_mb = sum(mb for _, mb in steady) / n
    spread = sum((t - mean_t) ** 2 for t, _ in steady) or 1e-9
    slope = sum((t - mean_t) * (mb - mean_mb) for t, mb in steady) / spread
    return {
        "samples": len(samples),
        "peak_mb": max(mb for _, mb in samples),
        "first_half_peak_mb": max(first),
        "second_half_peak_mb": max(second),
        "second_over_first": round(max(second) / max(first), 3),
        "slope_mb_per_minute": round(slope * 60, 2),
    }


def main() -> int:
    """Run the long walk once, print the figures, save the JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rows", "--activities", type=int, default=1_000_000, dest="rows")
    parser.add_argument("--time-factor", type=float, default=0.1)
    parser.add_argument("--timeout", type=float, default=3600, help="cap on the tap, seconds")
    parser.add_argument("--sample", type=float, default=1.0, help="seconds between samples")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.stream = "activities"
    factor = args.time_factor
    window = 600 * factor
    now = int(time.time())
    args.anchor = now - now % 86400
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    tag = f"million-{args.rows}-tf{factor:g}"

    emulator = Emulator(emulator_args(args, free_port()), LOGS / f"{tag}-emulator.log")
    print(f"starting the emulator with {args.rows:,} activities (limits, latency, x{factor:g}) …")
    with emulator, tempfile.TemporaryDirectory(prefix="bench-million-") as tmp:
        print(f"  ready in {emulator.startup_seconds:.0f} s", flush=True)
        emulator.configure(**cost_model_config())
        truth = emulator.truth_ids()
        argv, _ = client_argv("tap-keyset", emulator.webhook, factor, Path(tmp))
        emulator.reset_stats()
        emulator_cpu = emulator.cpu_seconds()
        print("running the tap (keyset) …", flush=True)
        with StatsWatcher(emulator, every=args.sample) as watcher:
            run = run_client(
                "tap-keyset", argv, kind="singer", timeout=args.timeout,
                log_path=LOGS / f"{tag}-tap.log", rss_every=args.sample,
            )  # fmt: skip
        watcher.poll(timeout=30)
        row = summarize(run, watcher.snapshot, len(truth), truth, factor)
        row["emulator_cpu_seconds"] = round(emulator.cpu_seconds() - emulator_cpu, 2)

    used, at = busiest_window(watcher.history, window)
    memory = memory_trend(run.extra.get("rss_samples", []))
    waits = _FINISHED.search(Path(_harness.REPO / row["stderr_log"]).read_text(errors="replace"))
    limit = COST_MODEL["operating_limit_seconds"]
    result: dict[str, Any] = {
        "rows": args.rows,
        "time_factor": factor,
        "started_at": started_at,
        "cost_model_real_seconds": COST_MODEL,
        "machine": machine(),
        "tap": row,
        "operating": {
            "window_wall_seconds": window,
            "windows_spanned": round(run.wall_seconds / window, 2),
            "busiest_window_server_seconds": round(used, 1),
            "busiest_window_ends_at_wall_seconds": at,
            "portal_limit_seconds": limit,
            "share_of_portal_limit": round(used / limit, 3),
            "tap_budget_seconds": TAP_BUDGET,
            "share_of_tap_budget": round(used / TAP_BUDGET, 3),
        },
        "tap_throttling": {
            "waits": int(waits[1]) if waits else None,
            "seconds": float(waits[2]) if waits else None,
        },
        "memory": memory,
        "server_seconds_series": watcher.history,
        "rss_series": run.extra.get("rss_samples", []),
    }
    print()
    print(f"{args.rows:,} activities at time factor {factor:g}: {row['status']}")
    print(
        f"  rows {row['rows']:,} / {row['expected_rows']:,}, missing {row['missing_ids']}, "
        f"duplicates {row['duplicate_ids']}" + (f" ({row['error']})" if row["error"] else "")
    )
    print(
        f"  wall {row['wall_seconds']:.1f} s; modelled server {row['server_seconds']:.0f} s, floor "
        f"for {row['requests_in_flight']} in flight {row['server_floor_wall_seconds']:.1f} s, "
        f"wall/floor {row['wall_over_server_floor']:.2f}"
    )
    print(
        f"  CPU: tap {row['cpu_user_seconds'] + row['cpu_sys_seconds']:.1f} s "
        f"({row['cpu_us_per_row']} µs/row), emulator {row['emulator_cpu_seconds']:.1f} s"
    )
    print(
        f"  requests {row['http_requests']:,}; 503 QUERY_LIMIT_EXCEEDED "
        f"{row['query_limit_exceeded']}, 429 OPERATION_TIME_LIMIT {row['operation_time_limit']}"
    )
    print(
        f"  operating time: busiest {window:g} s window (600 s x {factor:g}) used {used:.0f} "
        f"modelled s = {used / limit:.0%} of the portal's {limit} s, {used / TAP_BUDGET:.0%} of "
        f"the tap's {TAP_BUDGET:.0f} s budget; the run spanned "
        f"{result['operating']['windows_spanned']:.1f} windows"
    )
    if waits:
        print(f"  tap throttling waits: {waits[1]} ({waits[2]} s)")
    if "peak_mb" in memory:
        print(
            f"  memory: peak {memory['peak_mb']:.0f} MB; peak in the first half "
            f"{memory['first_half_peak_mb']:.0f} MB, second half "
            f"{memory['second_half_peak_mb']:.0f} MB ({memory['second_over_first']:.2f}x), "
            f"slope {memory['slope_mb_per_minute']:+.1f} MB/min"
        )
    path = args.out / f"{tag}.json"
    _harness.write_json(path, result)
    print(f"\nfigures: {path}")
    return 0 if row["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
