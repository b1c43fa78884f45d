#!/usr/bin/env python3
"""The tap's own cost with the server out of the way: CPU per record, the floor, the profile.

    python benchmarks/tap_cpu.py                                   # 100,000 and 1,000,000
    python benchmarks/tap_cpu.py --activities 100000 --profile --name before
    python benchmarks/tap_cpu.py --stream deals --rows 20000 --profile --name before

The emulator runs unthrottled (no limits, no modelled latency) and the tap's pacing is opened
wide, so the run is bound by the tap's and the emulator's CPU. For each size the tap reads
every row in keyset mode, once per variant (activities: default settings, then
``include_communications`` and ``include_files`` on; deals: ``crm.item.list`` with only the
``deals`` stream selected by a catalog); its stdout (Singer JSON lines) goes to a counter that
keeps nothing. Beside it runs the floor (``floor.py``: the same requests, decoding, converter and
JSON lines with no SDK at all), measured the same way: user+sys CPU of that process per record.
``--profile`` adds two tap runs per variant: one with per-thread CPU clocks (main thread against
the keyset workers, which do the HTTP and decoding) and one under cProfile in every thread,
sorted into the categories of issue #13 (``_profile.py``).

Targets (issue #13): CPU per record <= 35 µs for activities with default settings, <= 45 µs
with communications and files on (start-up excluded); peak RSS at 1,000,000 within 1.5x of
that at 100,000. Writes benchmarks/results/tap-cpu[-deals][-NAME].json. Not part of the test
suite. CPU seconds (user+sys) hold up on a shared machine; wall times do not.
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
import os
import tempfile
from datetime import datetime, timezone
from typing import Any

from _harness import (
    BENCH,
    LOGS,
    RESULTS,
    VENV_BIN,
    VENV_PY,
    ClientRun,
    Emulator,
    check_ids,
    free_port,
    machine,
    run_client,
    select_only,
    write_json,
)

SECRET = "benchsecret0123456789"
MEMORY_TARGET_RATIO = 1.5
DEALS = 2

#: Pacing opened wide: the emulator does not limit, so the tap must not wait either.
UNTHROTTLED = {
    "requests_per_second": 1_000_000,
    "burst": 1_000_000,
    "operating_limit": 1_000_000_000,
}
#: Tap settings of each variant, and its CPU target (µs per record, start-up excluded).
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "comms-files": {"include_communications": True, "include_files": True},
}
TARGETS_US = {
    ("activities", "default"): 35.0,
    ("activities", "comms-files"): 45.0,
    ("deals", "default"): 35.0,  # no figure of its own in the issue: activities' one
}


def emulator_for(stream: str, size: int, seed: int) -> Emulator:
    """An unthrottled emulator with ``size`` rows of ``stream``."""
    rows = ["--activities", str(size)] if stream == "activities" else ["--activities", "0"]
    if stream == "deals":
        rows += ["--deals", str(size)]
    args = [
        "--host", "127.0.0.1", "--port", str(free_port()), *rows,
        "--seed", str(seed), "--webhook-secret", SECRET,
    ]  # fmt: skip
    return Emulator(args, LOGS / f"cpu-{stream}-{size}-emulator.log")


def row_of(
    run: ClientRun, *, client: str, variant: str, pagination: str, size: int, expected: int,
    truth: set[int], stats: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """One line of the table (and of the JSON)."""
    cpu = run.user_seconds + run.sys_seconds
    checked = check_ids(run.ids, truth)
    complete = run.rows == expected and not checked["missing_ids"] and not checked["duplicate_ids"]
    return {
        "client": client,
        "variant": variant,
        "rows_in_portal": size,
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


def measure(size: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """One emulator with ``size`` rows; the tap (and the floor, the profile) per variant."""
    stream = args.stream
    emulator = emulator_for(stream, size, args.seed)
    print(f"starting the emulator with {size:,} {stream} (no limits, no latency) …", flush=True)
    out: dict[str, Any] = {"rows_in_portal": size, "runs": [], "profiles": []}
    with emulator:
        print(f"  ready in {emulator.startup_seconds:.1f} s", flush=True)
        # The truth is taken before the runs, outside the measured processes.
        truth = emulator.truth_ids() if stream == "activities" else emulator.item_ids(DEALS)
        expected = len(truth)
        out["expected_rows"] = expected
        id_field = "ID" if stream == "activities" else "id"
        for variant in args.variants:
            config = {"webhook_url": emulator.webhook, **UNTHROTTLED, **VARIANTS[variant]}
            if args.max_parallel:
                config["max_parallel_requests"] = args.max_parallel
            for pagination in args.pagination:
                path = workdir / f"cpu-{stream}-{size}-{variant}-{pagination}.json"
                path.write_text(json.dumps({**config, "pagination": pagination}))
                tap = [str(VENV_BIN / "tap-bitrix24"), "--config", str(path)]
                if stream != "activities":
                    catalog = select_only(tap[0], path, stream, workdir / f"{path.stem}.cat")
                    tap += ["--catalog", str(catalog)]
                tag = f"{stream}-{size}-{variant}-{pagination}"
                clients = [("tap", tap)]
                if args.floor and pagination == "keyset":
                    clients.append(("floor", floor_argv(emulator.webhook, stream, variant, args)))
                for client, argv in clients:
                    emulator.reset_stats()
                    emulator_cpu = emulator.cpu_seconds()
                    print(f"running the {client} ({variant}, {pagination}) …", flush=True)
                    run = run_client(
                        client, argv, kind="singer", timeout=args.timeout,
                        log_path=LOGS / f"cpu-{tag}-{client}.log", stream=stream,
                        id_field=id_field,
                    )  # fmt: skip
                    row = row_of(
                        run, client=client, variant=variant, pagination=pagination, size=size,
                        expected=expected, truth=truth, stats=emulator.stats(),
                    )  # fmt: skip
                    row["emulator_cpu_seconds"] = round(emulator.cpu_seconds() - emulator_cpu, 2)
                    out["runs"].append(row)
                    say(row)
                if args.profile and pagination == "keyset" and size:
                    out["profiles"].append(
                        profile(tap[1:], tag, variant, size, workdir, args, stream, id_field)
                    )
    return out


def floor_argv(webhook: str, stream: str, variant: str, args: argparse.Namespace) -> list[str]:
    """The floor's command line for one variant."""
    argv = [str(VENV_PY), str(BENCH / "floor.py"), webhook, "--stream", stream]
    if VARIANTS[variant].get("include_communications"):
        argv.append("--comms")
    if VARIANTS[variant].get("include_files"):
        argv.append("--files")
    if args.max_parallel:
        argv += ["--workers", str(args.max_parallel)]
    return argv


def say(row: dict[str, Any]) -> None:
    """One progress line per run."""
    print(
        f"  {row['status']}: {row['rows']:,} rows in {row['wall_seconds']:.1f} s, "
        f"{row['cpu_us_per_row'] or '-'} µs CPU/row, peak {row['peak_rss_mb']:.0f} MB, "
        f"missing {row['missing_ids']}, duplicates {row['duplicate_ids']}"
        + (f" ({row['error']})" if row["error"] else ""),
        flush=True,
    )


def profile(
    tap_args: list[str], tag: str, variant: str, size: int, workdir: Path,
    args: argparse.Namespace, stream: str, id_field: str,
) -> dict[str, Any]:  # fmt: skip
    """The tap with per-thread CPU clocks, then under cProfile in every thread."""
    import _profile

    found: dict[str, Any] = {"variant": variant, "rows_in_portal": size}
    for mode in ("threads", "profile"):
        folder = workdir / f"profile-{tag}-{mode}"
        env = {**os.environ, "BENCH_PROFILE_MODE": mode, "BENCH_PROFILE_OUT": str(folder)}
        print(f"running the tap ({variant}) with {mode} accounting …", flush=True)
        run = run_client(
            f"tap-{mode}", [str(VENV_PY), str(BENCH / "_profile.py"), *tap_args],
            kind="singer", timeout=args.timeout, log_path=LOGS / f"cpu-{tag}-{mode}.log",
            env=env, stream=stream, id_field=id_field,
        )  # fmt: skip
        if run.status != "ok" or not (folder / "threads.json").exists():
            found[mode] = {"status": run.status, "error": run.error}
            print(f"  {run.status}: {run.error}", flush=True)
            continue
        threads = json.loads((folder / "threads.json").read_text())
        workers = sum(
            t["cpu_seconds"] for t in threads["threads"] if t["name"].startswith("keyset")
        )
        entry: dict[str, Any] = {
            "rows": run.rows,
            "process_cpu_seconds": round(run.user_seconds + run.sys_seconds, 3),
            "main_thread_cpu_seconds": threads["main_cpu_seconds"],
            "keyset_workers_cpu_seconds": round(workers, 3),
        }
        if mode == "profile":
            bias = threads["profile_bias_seconds_per_call"]
            entry["profiler_bias_seconds_per_call"] = bias
            for part in ("main", "workers"):
                prof = folder / f"{part}.prof"
                if prof.exists():
                    entry[part] = _profile.breakdown(prof, bias)
                    saved = LOGS / f"cpu-{tag}-{part}.prof"
                    saved.write_bytes(prof.read_bytes())
                    entry[f"{part}_pstats_file"] = str(saved.relative_to(BENCH.parent))
        found[mode] = entry
        print(
            f"  {run.rows:,} rows; main thread {entry['main_thread_cpu_seconds']:.2f} s CPU, "
            f"keyset workers {workers:.2f} s, process {entry['process_cpu_seconds']:.2f} s",
            flush=True,
        )
    found["table"] = profile_table(found)
    return found


def profile_table(found: dict[str, Any]) -> list[dict[str, Any]]:
    """Per category: profiled CPU seconds by thread group, share, and µs per record.

    The shares (the profiler's own cost per call taken off first) are applied to the
    unprofiled run's main+workers CPU per record.
    """
    from _profile import CATEGORIES

    prof, plain = found.get("profile") or {}, found.get("threads") or {}
    if "main" not in prof or not plain.get("rows"):
        return []
    parts = [prof.get("main", {}), prof.get("workers", {})]
    total = sum(p.get("seconds", 0.0) for p in parts) or 1e-9
    unprofiled = plain["main_thread_cpu_seconds"] + plain["keyset_workers_cpu_seconds"]
    table = []
    per_record = unprofiled / plain["rows"] * 1e6 / total  # µs per record per profiled second
    for name in CATEGORIES:
        groups = [p.get("categories", {}).get(name, {}) for p in parts]
        detail: dict[str, float] = {}
        for group in groups:
            for part, seconds in group.get("detail", {}).items():
                detail[part] = detail.get(part, 0.0) + seconds * per_record
        main_s, workers_s = (g.get("seconds", 0.0) for g in groups)
        table.append({
            "category": name,
            "main_seconds": main_s,
            "workers_seconds": workers_s,
            "share": round((main_s + workers_s) / total, 3),
            "us_per_record": round((main_s + workers_s) * per_record, 1),
            "detail": {
                k: round(v, 1) for k, v in sorted(detail.items(), key=lambda kv: -kv[1]) if v >= 0.5
            },
        })  # fmt: skip
    return table


def print_table(head: list[str], body: list[list[str]], left: tuple[int, ...] = ()) -> None:
    """Columns right-aligned, those in ``left`` left-aligned."""
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    for cells in [head, ["-" * w for w in widths], *body]:
        line = "  ".join(
            c.ljust(widths[i]) if i in left else c.rjust(widths[i]) for i, c in enumerate(cells)
        )
        print(line.rstrip())


def main() -> int:
    """Measure each size, print the tables and the targets, save the JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--stream", choices=["activities", "deals"], default="activities")
    parser.add_argument(
        "--rows", "--activities", type=int, nargs="+", dest="rows",
        help="emulator sizes (default: 100000 1000000 activities, 20000 deals)",
    )  # fmt: skip
    parser.add_argument(
        "--variants", nargs="+", choices=list(VARIANTS),
        help="tap settings to run (default: default comms-files for activities, default for deals)",
    )  # fmt: skip
    parser.add_argument(
        "--pagination", nargs="+", default=["keyset"], choices=["keyset", "offset"],
        help="tap modes to run (default: keyset)",
    )  # fmt: skip
    parser.add_argument(
        "--no-floor", dest="floor", action="store_false",
        help="skip the floor (floor.py: the same walk and records with no SDK)",
    )  # fmt: skip
    parser.add_argument(
        "--profile", action="store_true",
        help="add a per-thread CPU run and a cProfile run per variant and print the breakdown",
    )  # fmt: skip
    parser.add_argument(
        "--max-parallel", type=int, default=0,
        help="the tap's max_parallel_requests (default: the tap's own default)",
    )  # fmt: skip
    parser.add_argument("--timeout", type=float, default=1800, help="cap per run, seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--name", default="", help="suffix of the results file (e.g. before)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    stream = args.stream
    args.rows = args.rows or ([100_000, 1_000_000] if stream == "activities" else [20_000])
    args.variants = args.variants or (
        ["default", "comms-files"] if stream == "activities" else ["default"]
    )

    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    sizes = []
    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as tmp:
        # An empty portal first: each client's fixed cost (imports, discovery, small calls).
        baseline = measure(0, args, Path(tmp))
        for size in args.rows:
            sizes.append(measure(size, args, Path(tmp)))

    def key(r: dict[str, Any]) -> tuple[str, str, str]:
        return r["client"], r["variant"], r["pagination"]

    fixed = {key(r): r["cpu_user_seconds"] + r["cpu_sys_seconds"] for r in baseline["runs"]}
    runs = [r for s in sizes for r in s["runs"]]
    for r in runs:
        cpu = r["cpu_user_seconds"] + r["cpu_sys_seconds"]
        r["fixed_cpu_seconds"] = round(fixed.get(key(r), 0.0), 3)
        r["marginal_cpu_us_per_row"] = (
            round((cpu - r["fixed_cpu_seconds"]) / r["rows"] * 1e6, 1) if r["rows"] else None
        )
    print(f"\n{stream}: CPU per record (user+sys of the process; wall times are not robust here)")
    head = [
        "rows", "client", "variant", "mode", "status", "wall s", "rows/s", "CPU s",
        "CPU µs/row", "minus start-up", "peak MB", "emu CPU s",
    ]  # fmt: skip
    body = [
        [
            f"{r['rows_in_portal']:,}", r["client"], r["variant"], r["pagination"], r["status"],
            f"{r['wall_seconds']:.1f}", f"{r['rows_per_second']:,.0f}",
            f"{r['cpu_user_seconds'] + r['cpu_sys_seconds']:.1f}",
            "-" if r["cpu_us_per_row"] is None else f"{r['cpu_us_per_row']:.1f}",
            "-" if r["marginal_cpu_us_per_row"] is None else f"{r['marginal_cpu_us_per_row']:.1f}",
            f"{r['peak_rss_mb']:.0f}", f"{r.get('emulator_cpu_seconds', 0):.1f}",
        ]
        for r in runs
    ]  # fmt: skip
    print_table(head, body)
    for (client, variant, mode), seconds in fixed.items():
        print(f"start-up on an empty portal ({client}, {variant}, {mode}): {seconds:.2f} s CPU")

    verdicts = judge(stream, runs)
    for s in sizes:
        for found in s["profiles"]:
            print_profile(stream, found)
    result = {
        "started_at": started_at,
        "stream": stream,
        "emulator": "no limits, no latency",
        "tap_settings": UNTHROTTLED,
        "variants": {v: VARIANTS[v] for v in args.variants},
        "machine": machine(),
        "baseline_empty_portal": baseline,
        "sizes": sizes,
        "verdicts": verdicts,
    }
    name = "tap-cpu" + ("" if stream == "activities" else f"-{stream}")
    path = args.out / (name + (f"-{args.name}" if args.name else "") + ".json")
    write_json(path, result)
    print(f"\nfigures: {path}")
    return 0


def judge(stream: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Print and return the targets: CPU per record per variant, the floor, memory."""
    verdicts: dict[str, Any] = {}
    print()
    for variant in dict.fromkeys(r["variant"] for r in runs):
        taps = [
            r for r in runs
            if r["client"] == "tap" and r["variant"] == variant and r["pagination"] == "keyset"
            and r["marginal_cpu_us_per_row"]
        ]  # fmt: skip
        if not taps:
            continue
        worst = max(taps, key=lambda r: r["marginal_cpu_us_per_row"])
        target = TARGETS_US[(stream, variant)]
        met = worst["marginal_cpu_us_per_row"] <= target
        entry: dict[str, Any] = {
            "tap_cpu_us_per_row": worst["marginal_cpu_us_per_row"],
            "tap_cpu_us_per_row_with_startup": worst["cpu_us_per_row"],
            "at_rows": worst["rows_in_portal"],
            "target_us": target,
            "target_met": met,
        }
        floors = [
            r for r in runs
            if r["client"] == "floor" and r["variant"] == variant
            and r["rows_in_portal"] == worst["rows_in_portal"] and r["marginal_cpu_us_per_row"]
        ]  # fmt: skip
        line = (
            f"{stream}, {variant}: tap {worst['marginal_cpu_us_per_row']:.1f} µs CPU/record "
            f"at {worst['rows_in_portal']:,} (start-up excluded; target <= {target:.0f} µs: "
            f"{'met' if met else 'NOT met'})"
        )
        if floors:
            floor = floors[0]["marginal_cpu_us_per_row"]
            entry["floor_cpu_us_per_row"] = floor
            entry["tap_over_floor"] = round(worst["marginal_cpu_us_per_row"] / floor, 2)
            line += f"; floor (no SDK) {floor:.1f} µs, tap/floor {entry['tap_over_floor']:.2f}x"
        print(line)
        verdicts[variant] = entry
        by_size = {r["rows_in_portal"]: r["peak_rss_mb"] for r in taps}
        if len(by_size) >= 2:
            small, large = min(by_size), max(by_size)
            ratio = by_size[large] / by_size[small]
            entry["peak_rss_ratio"] = round(ratio, 2)
            entry["memory_target_met"] = ratio <= MEMORY_TARGET_RATIO
            print(
                f"  peak RSS {large:,} vs {small:,}: {by_size[large]:.0f} MB / "
                f"{by_size[small]:.0f} MB = {ratio:.2f}x (target <= {MEMORY_TARGET_RATIO}x: "
                f"{'met' if ratio <= MEMORY_TARGET_RATIO else 'NOT met'})"
            )
    return verdicts


def print_profile(stream: str, found: dict[str, Any]) -> None:
    """The profile's categories as a table, and the per-thread CPU of the unprofiled run."""
    plain = found.get("threads") or {}
    print(
        f"\nprofile: {stream}, {found['variant']}, {found['rows_in_portal']:,} rows in the portal"
    )
    if plain.get("rows"):
        print(
            f"  unprofiled run: main thread {plain['main_thread_cpu_seconds']:.2f} s CPU, keyset "
            f"workers (HTTP, decoding) {plain['keyset_workers_cpu_seconds']:.2f} s, whole "
            f"process {plain['process_cpu_seconds']:.2f} s (imports and start-up counted only "
            "in the whole process)"
        )
    table = found.get("table") or []
    if not table:
        print("  (no profile)")
        return
    body = [
        [
            t["category"], f"{t['main_seconds']:.2f}", f"{t['workers_seconds']:.2f}",
            f"{t['share'] * 100:.0f}%", f"{t['us_per_record']:.1f}",
            ", ".join(f"{k} {v:.1f}" for k, v in list(t["detail"].items())[:4]),
        ]
        for t in table
    ]  # fmt: skip
    print_table(
        ["category", "main s*", "workers s*", "share", "µs/record", "largest parts (µs/record)"],
        body,
        left=(0, 5),
    )
    print(
        "  * profiled CPU seconds (each thread on its own CPU clock, the profiler's own cost per "
        "call taken off); µs/record = share x the unprofiled run's main+workers CPU per record"
    )


if __name__ == "__main__":
    sys.exit(main())
