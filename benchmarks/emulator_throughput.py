"""How fast the emulator serves a chained keyset walk, and how much memory it holds.

Starts ``python -m tap_bitrix24.emulator`` in a subprocess on loopback (limits off), walks every
activity with a plain ``requests`` client doing chained batches -- 50 x
``crm.activity.list?order[ID]=ASC&filter[>ID]=$result[k-1][49][ID]&start=-1`` per request -- and
prints rows/s, requests and the emulator's resident memory (VmRSS / VmHWM from /proc).

    .venv/bin/python benchmarks/emulator_throughput.py            # 100,000 activities
    .venv/bin/python benchmarks/emulator_throughput.py --million  # and 1,000,000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
PAGE = 50
BATCH = 50


def _memory_mb(pid: int) -> dict[str, float]:
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return out


def start_emulator(activities: int, seed: int) -> tuple[subprocess.Popen[bytes], str, float]:
    """Run the emulator; return (process, webhook URL, seconds until it answered)."""
    began = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tap_bitrix24.emulator",
            "--port",
            "0",
            "--activities",
            str(activities),
            "--seed",
            str(seed),
            "--webhook-secret",
            "bench",
            "--no-limits",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode("utf-8")
    if "webhook:" not in line:
        proc.kill()
        raise RuntimeError(f"emulator did not start: {line!r}")
    webhook = line.split("webhook: ")[1].split(" ")[0]
    return proc, webhook, time.perf_counter() - began


def walk(session: requests.Session, webhook: str) -> tuple[int, int, set[str]]:
    """Chained keyset walk over all activities; returns (rows, requests, distinct ids)."""
    last = 0
    rows = 0
    requests_made = 0
    seen: set[str] = set()
    while True:
        cmd = {}
        for k in range(BATCH):
            ref = str(last) if k == 0 else f"$result[p{k - 1}][{PAGE - 1}][ID]"
            cmd[f"p{k}"] = f"crm.activity.list?order[ID]=ASC&filter[>ID]={ref}&start=-1"
        response = session.post(webhook + "batch", json={"halt": 0, "cmd": cmd}, timeout=120)
        requests_made += 1
        response.raise_for_status()
        result: dict[str, Any] = response.json()["result"]
        pages = result["result"]
        finished = False
        for k in range(BATCH):
            page = pages.get(f"p{k}") if isinstance(pages, dict) else None
            if page is None:
                finished = True
                break
            rows += len(page)
            seen.update(row["ID"] for row in page)
            if len(page) < PAGE:
                finished = True
                break
            last = int(page[-1]["ID"])
        if finished:
            return rows, requests_made, seen


def run(activities: int, seed: int) -> dict[str, Any]:
    """Start, walk, measure, stop."""
    proc, webhook, startup = start_emulator(activities, seed)
    try:
        idle = _memory_mb(proc.pid)
        with requests.Session() as session:
            began = time.perf_counter()
            rows, requests_made, seen = walk(session, webhook)
            elapsed = time.perf_counter() - began
        after = _memory_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    if len(seen) != activities or rows != activities:
        raise RuntimeError(f"walk returned {rows} rows, {len(seen)} distinct of {activities}")
    return {
        "activities": activities,
        "startup_s": round(startup, 2),
        "walk_s": round(elapsed, 2),
        "rows_per_s": round(rows / elapsed),
        "requests": requests_made,
        "rss_idle_mb": round(idle.get("VmRSS", 0.0), 1),
        "rss_after_walk_mb": round(after.get("VmRSS", 0.0), 1),
        "rss_peak_mb": round(after.get("VmHWM", 0.0), 1),
    }


def main() -> int:
    """Measure 100,000 activities (and 1,000,000 with --million)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--million", action="store_true", help="also measure 1,000,000 activities")
    parser.add_argument("--activities", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sizes = [args.activities] + ([1_000_000] if args.million else [])
    for size in sizes:
        figures = run(size, args.seed)
        print(
            f"{figures['activities']:>9,} activities: {figures['rows_per_s']:>7,} rows/s "
            f"({figures['walk_s']} s, {figures['requests']} requests); "
            f"startup {figures['startup_s']} s; RSS idle {figures['rss_idle_mb']} MB, "
            f"after walk {figures['rss_after_walk_mb']} MB, peak {figures['rss_peak_mb']} MB",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
