#!/usr/bin/env python3
"""Bytes of STATE the tap emits per run on a large portal (the STATE budget at work).

    python benchmarks/state_bytes.py                       # 1,000,000 activities
    python benchmarks/state_bytes.py --activities 20000    # a quick look

Starts the emulator (no limits, no latency) in a subprocess, then runs the tap twice with
``activities`` and ``activity_bindings`` selected and ``detect_deletes`` on: a full sync, then
(after updating N/1000 activities, or ``--changes``, and deleting and rebinding a tenth of
that) an incremental sync from its last STATE. For each run it prints records, STATE messages,
total STATE bytes, the largest STATE and the wall time. Uses the current interpreter (run it
with the project's venv). Writes benchmarks/results/state-bytes.json. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
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
STREAMS = ("activities", "activity_bindings")


def _control(base: str, path: str, body: dict | None = None) -> Any:
    return call_url(f"{base}/_emulator/{path}", body, timeout=600)


def run(config: Path, catalog: Path, state: dict | None, workdir: Path) -> dict[str, Any]:
    """One tap run; count its messages as a target would receive them."""
    argv = [sys.executable, "-m", "tap_bitrix24", "--config", str(config)]
    argv += ["--catalog", str(catalog)]
    if state is not None:
        (workdir / "state.json").write_text(json.dumps(state))
        argv += ["--state", str(workdir / "state.json")]
    started = time.monotonic()
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=(workdir / "tap.log").open("a"), cwd=REPO
    )
    assert process.stdout is not None
    out = {"records": dict.fromkeys(STREAMS, 0), "states": 0, "state_bytes": 0, "largest": 0}
    last = None
    for line in process.stdout:
        if line.startswith(b'{"type":"STATE"') or b'"type": "STATE"' in line[:40]:
            out["states"] += 1
            out["state_bytes"] += len(line)
            out["largest"] = max(out["largest"], len(line))
            last = line
        elif b'"RECORD"' in line[:40]:
            stream = re.search(rb'"stream":\s*"([a-z_]+)"', line)
            if stream:
                out["records"][stream.group(1).decode()] += 1
    code = process.wait()
    out["exit"] = code
    out["wall_seconds"] = round(time.monotonic() - started, 1)
    out["last_state"] = json.loads(last)["value"] if last else None
    return out


def main() -> int:
    """Full run, changes, incremental run; print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--activities", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--changes", type=int, default=None, help="activities updated between runs (N/1000)"
    )
    args = parser.parse_args()
    port = free_port()
    emulator = subprocess.Popen(
        [
            *(sys.executable, "-m", "tap_bitrix24.emulator", "--port", str(port)),
            *("--activities", str(args.activities), "--seed", str(args.seed)),
            *("--webhook-secret", SECRET),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
    )
    try:
        assert emulator.stdout is not None
        banner = emulator.stdout.readline()
        webhook = re.search(r"webhook:\s*(\S+)", banner)
        if not webhook:
            sys.exit(f"the emulator did not start: {banner!r}")
        base = webhook.group(1).split("/rest/", 1)[0]
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            config = workdir / "config.json"
            config.write_text(
                json.dumps(
                    {
                        "webhook_url": webhook.group(1),
                        "detect_deletes": True,
                        "requests_per_second": 1_000_000,
                        "burst": 1_000_000,
                        "operating_limit": 1_000_000_000,
                        "progress_interval_seconds": 0,
                    }
                )
            )
            catalog = select_only(
                [sys.executable, "-m", "tap_bitrix24"], config, STREAMS, workdir / "catalog.json"
            )
            results: dict[str, Any] = {"activities": args.activities, "runs": {}}
            first = run(config, catalog, None, workdir)
            changes = args.changes or max(10, args.activities // 1000)
            _control(
                base,
                "mutate",
                {"update": changes, "delete": changes // 10, "rebind": changes // 10, "seed": 2},
            )
            second = run(config, catalog, first["last_state"], workdir)
            for name, figures in (("full", first), ("incremental", second)):
                figures.pop("last_state")
                results["runs"][name] = figures
                print(
                    f"{name}: exit {figures['exit']}, records {figures['records']}, "
                    f"{figures['states']} STATE messages, {figures['state_bytes'] / 1e6:.1f} MB "
                    f"of STATE, largest {figures['largest'] / 1e6:.2f} MB, "
                    f"{figures['wall_seconds']} s",
                    flush=True,
                )
            path = REPO / "benchmarks" / "results" / "state-bytes.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(results, indent=2) + "\n")
    finally:
        emulator.terminate()
        emulator.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
