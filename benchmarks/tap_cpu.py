#!/usr/bin/env python3
"""The tap's own cost with the server out of the way: CPU per record and peak memory.

    python benchmarks/tap_cpu.py                         # 100,000 and 1,000,000 activities
    python benchmarks/tap_cpu.py --activities 100000     # one size

The emulator runs unthrottled (no limits, no modelled latency) and the tap's pacing is opened
wide, so the run is bound by the tap's and the emulator's CPU. For each size the tap reads every
activity with the default select in keyset mode; its stdout (Singer JSON lines) goes to a counter
that keeps nothing. Targets (issue "As fast as Bitrix24 allows"): the tap's own user+sys CPU
under 100 µs per record, and peak RSS at 1,000,000 within 1.5x of peak RSS at 100,000.

Writes benchmarks/results/tap-cpu.json. Not part of the test suite.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness

if __name__ == "__main__":
    _harness.ensure_bench_venv(__file__)

import argparse
import json
import tempfile
from datetime import datetime, timezone
from typing import Any

from _harness import (
    LOGS,
    RESULTS,
    VENV_BIN,
    Emulator,
    check_ids,
    free_port,
    machine,
    run_client,
    write_json,
)

SECRET = "benchsecret0123456789"
CPU_TARGET_US = 100.0
MEMORY_TARGET_RATIO = 1.5

#: Pacing opened wide: the emulator does not limit, so the tap must not wait either.
UNTHROTTLED = {
    "requests_per_second": 1_000_000,
    "burst": 1_000_000,
    "operating_limit": 1_000_000_000,
}


def measure(size: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """One emulator with ``size`` activities, one tap run (per pagination asked for)."""
    emulator = Emulator(
        [
            "--host",
            "127.0.0.1",
            "--port",
            str(free_port()),
            "--activities",
            str(size),
            "--seed",
            str(args.seed),
            "--webhook-secret",
            SECRET,
        ],
        LOGS / f"cpu-{size}-emulator.log",
    )
    print(f"starting the emulator with {size:,} activities (no limits, no latency) …", flush=True)
    out: dict[str, Any] = {"activities": size, "runs": []}
    with emulator:
        print(f"  ready in {emulator.startup_seconds:.1f} s", flush=True)
        expected = emulator.count
        out["expected_rows"] = expected
        truth = emulator.truth_ids()  # taken before the run, outside the measured process
        for pagination in args.pagination:
            config = {"webhook_url": emulator.webhook, "pagination": pagination, **UNTHROTTLED}
            if args.max_parallel:
                config["max_parallel_requests"] = args.max_parallel
            path = workdir / f"cpu-{size}-{pagination}.json"
            path.write_text(json.dumps(config))
            emulator.reset_stats()
            print(f"running the tap ({pagination}) …", flush=True)
            run = run_client(
                f"tap-{pagination}",
                [str(VENV_BIN / "tap-bitrix24"), "--config", str(path)],
                kind="singer",
                timeout=args.timeout,
                log_path=LOGS / f"cpu-{size}-tap-{pagination}.log",
            )
            stats = emulator.stats()
            cpu = run.user_seconds + run.sys_seconds
            checked = check_ids(run.ids, truth)
            complete = (
                run.rows == expected and not checked["missing_ids"] and not checked["duplicate_ids"]
            )
            row = {
                "activities": size,
                "pagination": pagination,
                "status": run.status if complete or run.status != "ok" else "incomplete",
                **checked,
                "error": run.error,
                "rows": run.rows,
                "expected_rows": expected,
                "wall_seconds": round(run.wall_seconds, 3),
                "rows_per_second": round(run.rows / run.wall_seconds, 1) if run.wall_seconds else 0,
                "cpu_user_seconds": round(run.user_seconds, 3),
                "cpu_sys_seconds": round(run.sys_seconds, 3),
                "cpu_us_per_row": round(cpu / run.rows * 1e6, 1) if run.rows else None,
                "peak_rss_mb": round(run.max_rss_kb / 1024, 1),
                "http_requests": stats.get("requests", 0),
                "stderr_log": run.stderr_log,
            }
            out["runs"].append(row)
            print(
                f"  {row['status']}: {row['rows']:,} rows in {row['wall_seconds']:.1f} s, "
                f"{row['cpu_us_per_row'] or '-'} µs CPU/row, peak {row['peak_rss_mb']:.0f} MB, "
                f"missing {row['missing_ids']}, duplicates {row['duplicate_ids']}"
                + (f" ({row['error']})" if row["error"] else ""),
                flush=True,
            )
    return out


def main() -> int:
    """Measure each size, print a table and the two targets, save the JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--activities", type=int, nargs="+", default=[100_000, 1_000_000],
        help="emulator sizes (default: 100000 1000000)",
    )  # fmt: skip
    parser.add_argument(
        "--pagination", nargs="+", default=["keyset"], choices=["keyset", "offset"],
        help="tap modes to run (default: keyset)",
    )  # fmt: skip
    parser.add_argument(
        "--max-parallel", type=int, default=0,
        help="the tap's max_parallel_requests (default: the tap's own default)",
    )  # fmt: skip
    parser.add_argument("--timeout", type=float, default=1800, help="cap per tap run, seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    sizes = []
    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as tmp:
        # An empty portal first: the tap's fixed cost (imports, discovery, two small calls).
        baseline = measure(0, args, Path(tmp))
        for size in args.activities:
            sizes.append(measure(size, args, Path(tmp)))

    fixed = {
        r["pagination"]: r["cpu_user_seconds"] + r["cpu_sys_seconds"] for r in baseline["runs"]
    }
    runs = [r for s in sizes for r in s["runs"]]
    for r in runs:
        cpu = r["cpu_user_seconds"] + r["cpu_sys_seconds"]
        r["fixed_cpu_seconds"] = round(fixed.get(r["pagination"], 0.0), 3)
        r["marginal_cpu_us_per_row"] = (
            round((cpu - r["fixed_cpu_seconds"]) / r["rows"] * 1e6, 1) if r["rows"] else None
        )
    head = [
        "activities", "mode", "status", "wall s", "rows/s", "CPU s", "CPU µs/row",
        "minus start-up", "peak MB",
    ]  # fmt: skip
    body = [
        [
            f"{r['activities']:,}",
            r["pagination"],
            r["status"],
            f"{r['wall_seconds']:.1f}",
            f"{r['rows_per_second']:,.0f}",
            f"{r['cpu_user_seconds'] + r['cpu_sys_seconds']:.1f}",
            "-" if r["cpu_us_per_row"] is None else f"{r['cpu_us_per_row']:.1f}",
            "-" if r["marginal_cpu_us_per_row"] is None else f"{r['marginal_cpu_us_per_row']:.1f}",
            f"{r['peak_rss_mb']:.0f}",
        ]
        for r in runs
    ]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    print()
    for cells in [head, ["-" * w for w in widths], *body]:
        print("  ".join(c.rjust(widths[i]) for i, c in enumerate(cells)))
    for mode, seconds in fixed.items():
        print(f"tap start-up on an empty portal ({mode}): {seconds:.2f} s CPU")

    verdicts: dict[str, Any] = {}
    keyset = [r for r in runs if r["pagination"] == "keyset" and r["cpu_us_per_row"]]
    if keyset:
        worst = max(r["marginal_cpu_us_per_row"] for r in keyset)
        worst_total = max(r["cpu_us_per_row"] for r in keyset)
        verdicts["cpu_us_per_row_worst"] = worst_total
        verdicts["marginal_cpu_us_per_row_worst"] = worst
        verdicts["cpu_target_met"] = worst < CPU_TARGET_US
        print(
            f"\nCPU per record (keyset, worst size, start-up excluded): {worst:.1f} µs "
            f"(target < {CPU_TARGET_US:.0f} µs: {'met' if worst < CPU_TARGET_US else 'NOT met'}); "
            f"with start-up: {worst_total:.1f} µs"
        )
        by_size = {r["activities"]: r["peak_rss_mb"] for r in keyset}
        if len(by_size) >= 2:
            small, large = min(by_size), max(by_size)
            ratio = by_size[large] / by_size[small]
            verdicts["peak_rss_ratio"] = round(ratio, 2)
            verdicts["memory_target_met"] = ratio <= MEMORY_TARGET_RATIO
            print(
                f"peak RSS {large:,} vs {small:,}: {by_size[large]:.0f} MB / "
                f"{by_size[small]:.0f} MB = {ratio:.2f}x (target <= {MEMORY_TARGET_RATIO}x: "
                f"{'met' if ratio <= MEMORY_TARGET_RATIO else 'NOT met'})"
            )
    result = {
        "started_at": started_at,
        "emulator": "no limits, no latency",
        "tap_settings": UNTHROTTLED,
        "machine": machine(),
        "baseline_empty_portal": baseline,
        "sizes": sizes,
        "verdicts": verdicts,
    }
    path = args.out / "tap-cpu.json"
    write_json(path, result)
    print(f"\nfigures: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
