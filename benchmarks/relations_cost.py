#!/usr/bin/env python3
"""Requests the relation streams (``product_rows``, ``stage_history``) cost on a large portal.

    python benchmarks/relations_cost.py                 # 100,000 deals
    python benchmarks/relations_cost.py --deals 5000    # a quick look

Starts the emulator (no limits, no latency) with N deals and no other items or activities, then
for each stream on its own: a full sync, a batch of changes through ``/_emulator/mutate``
(deals updated, inserted and deleted), and an incremental sync from the full sync's STATE, with
``detect_deletes`` on. Requests and method calls come from the emulator's ``/_emulator/stats``
(reset before each run); the discovery requests every run makes are measured alone first (a
run of ``field_options``, which makes no request of its own) and shown apart. Prints the
figures and writes benchmarks/results/relations-cost.json. Uses the current interpreter (run it
with the project's venv). Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import call_url, free_port, select_only

REPO = Path(__file__).resolve().parents[1]
SECRET = "benchsecret0123456789"
STREAMS = ("product_rows", "stage_history")
DEALS = "2"


def _only(config: Path, workdir: Path, stream: str) -> Path:
    tap = [sys.executable, "-m", "tap_bitrix24"]
    return select_only(tap, config, stream, workdir / f"catalog-{stream}.json")


def _control(base: str, path: str, body: dict | None = None) -> Any:
    return call_url(f"{base}/_emulator/{path}", body, timeout=1800)


def _run(
    base: str, config: Path, catalog: Path, state: dict | None, workdir: Path
) -> dict[str, Any]:
    """One tap run with the emulator's counters reset first; its records and requests."""
    argv = [sys.executable, "-m", "tap_bitrix24", "--config", str(config)]
    argv += ["--catalog", str(catalog)]
    if state is not None:
        (workdir / "state.json").write_text(json.dumps(state))
        argv += ["--state", str(workdir / "state.json")]
    _control(base, "stats/reset", {})
    started = time.monotonic()
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=(workdir / "tap.log").open("a"), cwd=REPO
    )
    assert process.stdout is not None
    records = tombstones = 0
    last = None
    for line in process.stdout:
        if line.startswith(b'{"type":"STATE"') or b'"type": "STATE"' in line[:40]:
            last = line
        elif b'"RECORD"' in line[:40]:
            records += 1
            tombstones += b'"_sdc_deleted_at":null' not in line and b"_sdc_deleted_at" in line
    code = process.wait()
    wall = round(time.monotonic() - started, 1)
    stats = _control(base, "stats")
    return {
        "exit": code,
        "records": records,
        "tombstones": tombstones,
        "requests": stats["requests"],
        "method_calls": stats["method_calls"],
        "wall_seconds": wall,
        "state": json.loads(last)["value"] if last else None,
    }


def _start(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str, str]:
    port = free_port()
    others = ("--leads", "0", "--contacts", "0", "--companies", "0", "--quotes", "0")
    emulator = subprocess.Popen(
        [
            *(sys.executable, "-m", "tap_bitrix24.emulator", "--port", str(port)),
            *("--deals", str(args.deals), *others, "--smart-invoices", "0"),
            *("--items", "128=0", "--items", "133=0", "--items", "1032=0"),
            *("--activities", "0", "--seed", str(args.seed), "--webhook-secret", SECRET),
            "--no-limits",
            "--no-latency",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
    assert emulator.stdout is not None
    banner = emulator.stdout.readline()
    webhook = re.search(r"webhook:\s*(\S+)", banner)
    if not webhook:
        emulator.terminate()
        sys.exit(f"the emulator did not start: {banner!r}")
    return emulator, webhook.group(1), webhook.group(1).split("/rest/", 1)[0]


def _show(name: str, figures: dict[str, Any], discovery: int) -> None:
    calls = ", ".join(f"{m} {n}" for m, n in sorted(figures["method_calls"].items()))
    print(
        f"  {name}: exit {figures['exit']}, {figures['records']} records "
        f"({figures['tombstones']} tombstones), {figures['requests']} requests "
        f"({figures['requests'] - discovery} past discovery), {figures['wall_seconds']} s; "
        f"method calls: {calls}",
        flush=True,
    )


def main() -> int:
    """Per stream: full sync, changes, incremental sync; print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--changes", type=int, default=None, help="deals updated (N/100)")
    args = parser.parse_args()
    changes = args.changes or max(10, args.deals // 100)
    started = time.monotonic()
    emulator, webhook, base = _start(args)
    print(f"emulator with {args.deals} deals up in {time.monotonic() - started:.0f} s", flush=True)
    results: dict[str, Any] = {
        "deals": args.deals,
        "changes": {"update": changes, "insert": changes // 10, "delete": changes // 10},
        "command": " ".join(["python benchmarks/relations_cost.py", *sys.argv[1:]]),
        "streams": {},
    }
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            config = workdir / "config.json"
            config.write_text(
                json.dumps(
                    {
                        "webhook_url": webhook,
                        "detect_deletes": True,
                        "requests_per_second": 1_000_000,
                        "burst": 1_000_000,
                        "operating_limit": 1_000_000_000,
                        "progress_interval_seconds": 0,
                    }
                )
            )
            truth = _control(base, "truth/dictionaries?kind=stageHistory")["stageHistory"]
            results["stage_history_rows"] = len(truth.get(DEALS, []))
            rows = _control(base, "truth/dictionaries?kind=productRows")["productRows"]
            results["deals_with_product_rows"] = len(rows.get("D", {}))
            results["product_rows"] = sum(len(r) for r in rows.get("D", {}).values())
            # field_options makes no request of its own: its run is the discovery every run does
            nothing = _run(base, config, _only(config, workdir, "field_options"), None, workdir)
            discovery = nothing["requests"]
            results["discovery_requests"] = discovery
            results["discovery_method_calls"] = nothing["method_calls"]
            print(f"discovery alone: {discovery} requests {nothing['method_calls']}", flush=True)
            catalogs = {s: _only(config, workdir, s) for s in STREAMS}
            full = {s: _run(base, config, catalogs[s], None, workdir) for s in STREAMS}
            body = {"items": {DEALS: results["changes"]}, "seed": 2}
            results["mutation"] = _control(base, "mutate", body).get("items")
            incremental = {
                s: _run(base, config, catalogs[s], full[s]["state"], workdir) for s in STREAMS
            }
            for stream in STREAMS:
                print(f"{stream}:", flush=True)
                figures: dict[str, Any] = {}
                for name, run in (("full", full[stream]), ("incremental", incremental[stream])):
                    state = run.pop("state")
                    run["state_bytes"] = len(json.dumps(state, separators=(",", ":")))
                    run["requests_past_discovery"] = run["requests"] - discovery
                    _show(name, run, discovery)
                    figures[name] = run
                results["streams"][stream] = figures
    finally:
        emulator.terminate()
        emulator.wait(60)
    scale = 100_000 / args.deals
    for stream, figures in results["streams"].items():
        per = math.ceil(figures["full"]["requests_past_discovery"] * scale)
        print(f"{stream}: about {per} requests per 100,000 deals on a first sync (past discovery)")
    path = REPO / "benchmarks" / "results" / "relations-cost.json"
    if args.deals != 100_000:
        path = path.with_name(f"relations-cost-{args.deals}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
