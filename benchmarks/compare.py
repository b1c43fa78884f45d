#!/usr/bin/env python3
"""Side-by-side benchmark: the tap and its peers read every activity (or deal) from the emulator.

    python benchmarks/compare.py --activities 100000            # a real portal's pace
    python benchmarks/compare.py --activities 1000000           # slow clients stop at --timeout
    python benchmarks/compare.py --stream deals --rows 100000   # crm.item.list: tap vs b24pysdk

Every client reads from its own fresh emulator process started with the same arguments (same
seed and anchor: same data; same limits; same modelled server latency), so figures from
/_emulator/stats are that client's alone. The emulator's cost model has a real
portal's shape and every time in it (server seconds, bucket drain, operating window) is
multiplied by ``--time-factor``; the clients' pacing is scaled the same way. See
benchmarks/README.md for what is measured and how to read it.

Beside each keyset client's wall time it prints the modelled server-time floor for its
parallelism: the modelled server seconds x the time factor / the requests it keeps in flight
(the tap's ``max_parallel_requests``, 1 for b24pysdk), and wall / floor.

Writes benchmarks/results/<rows>.json and .png (<rows>-tf<F>.* for another time factor;
deals-<rows>* for deals). Not part of the test suite.
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
import time
from datetime import datetime, timezone
from typing import Any

from _harness import (
    LOGS,
    RESULTS,
    VENV_BIN,
    VENV_PY,
    ClientRun,
    Emulator,
    StatsWatcher,
    check_ids,
    free_port,
    machine,
    read_ids,
    run_client,
    select_only,
    write_json,
)

#: A real portal's shape, in real seconds (the emulator multiplies them by the time factor).
COST_MODEL = {
    "keyset_page_seconds": 0.030,  # >ID page with start=-1: index range scan + LIMIT 50
    "count_seconds_per_100k": 0.3,  # COUNT(*) run by every start>=0 page
    "offset_seconds_per_100k": 0.2,  # rows the server scans and skips to reach `start`
    "bucket_rate": 2,  # leaky bucket drain, requests/s
    "bucket_size": 50,  # leaky bucket burst
    "operating_limit_seconds": 480,  # server seconds per method per 10 minutes
}

SECRET = "benchsecret0123456789"
DEFAULT_TIME_FACTOR = 1.0
TAP_PARALLEL = 6  # the tap's default max_parallel_requests
DEALS = 2

CLIENTS = {
    "tap-keyset": "tap, keyset",
    "tap-offset": "tap, offset",
    "b24pysdk-fast": "b24pysdk as_list_fast",
    "b24pysdk-list": "b24pysdk as_list",
    "fast-bitrix24": "fast-bitrix24 get_all",
    "b24pysdk-fast-deals": "b24pysdk as_list_fast",
}
#: The clients of each stream (the default of --clients).
STREAM_CLIENTS = {
    "activities": ["tap-keyset", "tap-offset", "b24pysdk-fast", "b24pysdk-list", "fast-bitrix24"],
    "deals": ["tap-keyset", "b24pysdk-fast-deals"],
}
#: Requests each client keeps in flight, for the modelled floor (keyset clients only).
IN_FLIGHT = {"b24pysdk-fast": 1, "b24pysdk-fast-deals": 1}


def emulator_args(args: argparse.Namespace, port: int) -> list[str]:
    """The emulator command line: limits on, latency on, the real-portal cost model."""
    return [
        "--host", "127.0.0.1",
        "--port", str(port),
        *rows_args(args),
        "--seed", str(args.seed),
        "--anchor", str(args.anchor),
        "--webhook-secret", SECRET,
        "--limits",
        "--latency",
        "--time-factor", str(args.time_factor),
        "--bucket-rate", str(COST_MODEL["bucket_rate"]),
        "--bucket-size", str(COST_MODEL["bucket_size"]),
        "--operating-limit", str(COST_MODEL["operating_limit_seconds"]),
    ]  # fmt: skip


def rows_args(args: argparse.Namespace) -> list[str]:
    """The emulator's data: activities, or deals alone."""
    if getattr(args, "stream", "activities") == "deals":
        return ["--activities", "0", "--deals", str(args.rows)]
    return ["--activities", str(args.rows)]


def cost_model_config() -> dict[str, Any]:
    """``POST /_emulator/config`` options that set the cost model (real seconds)."""
    return {
        "cost_keyset_page": COST_MODEL["keyset_page_seconds"],
        "cost_count_per_100k": COST_MODEL["count_seconds_per_100k"],
        "cost_skip_per_100k": COST_MODEL["offset_seconds_per_100k"],
    }


def client_argv(
    name: str, webhook: str, factor: float, workdir: Path, stream: str = "activities"
) -> tuple[list[str], str]:
    """The command line of one client and its kind (``singer`` or ``peer``)."""
    if name.startswith("tap-"):
        config = {
            "webhook_url": webhook,
            "pagination": name.removeprefix("tap-"),
            "requests_per_second": COST_MODEL["bucket_rate"] / factor,
            "burst": COST_MODEL["bucket_size"],
            "retry_backoff_seconds": 1.0 * factor,
            "max_parallel_requests": TAP_PARALLEL,
        }
        path = workdir / f"{name}.json"
        path.write_text(json.dumps(config))
        argv = [str(VENV_BIN / "tap-bitrix24"), "--config", str(path)]
        if stream != "activities":
            # Discovery is not measured; the catalog (stream alone) is written beforehand.
            catalog = select_only(Path(argv[0]), path, stream, workdir / f"{name}.catalog.json")
            argv += ["--catalog", str(catalog)]
        return argv, "singer"
    peers = Path(__file__).resolve().parent / "_peers.py"
    ids = str(ids_file(name, workdir))
    return [str(VENV_PY), str(peers), name, webhook, str(factor), ids], "peer"


def ids_file(name: str, workdir: Path) -> Path:
    """Where a peer writes the IDs it delivered."""
    return workdir / f"{name}.ids"


def summarize(
    run: ClientRun, stats: dict[str, Any], expected: int, truth: set[int], factor: float = 1.0
) -> dict[str, Any]:
    """One row of the table (and of the JSON), from the client's run and the emulator's stats.

    Rows are not enough: the IDs delivered are checked against the emulator's truth, and a run
    that missed or repeated an activity is ``incomplete`` whatever its row count.
    """
    checked = check_ids(run.ids, truth)
    http_status = {str(k): v for k, v in (stats.get("http_status") or {}).items()}
    errors = {str(k): v for k, v in (stats.get("errors_sent") or {}).items()}
    calls = stats.get("method_calls") or {}
    rows = run.rows
    rows_note = ""
    sent = int(stats.get("rows") or 0)
    if run.status == "timed out" and not rows:
        # Peers that return one list at the end have nothing to show yet: count what was sent.
        rows, rows_note = sent, "sent by the emulator"
    elif run.status == "failed" and sent > rows:
        run.error += f" (after the emulator had sent {sent:,} rows)"
    if run.status == "ok" and (
        rows != expected or checked["missing_ids"] or checked["duplicate_ids"]
    ):
        run.status = "incomplete"
    cpu = run.user_seconds + run.sys_seconds
    server = float(stats.get("server_seconds") or 0)
    in_flight = TAP_PARALLEL if run.name == "tap-keyset" else IN_FLIGHT.get(run.name)
    floor = server * factor / in_flight if in_flight else None
    return {
        "client": run.name,
        "label": CLIENTS.get(run.name, run.name),
        "status": run.status,
        "error": run.error,
        "wall_seconds": round(run.wall_seconds, 3),
        "rows": rows,
        "rows_note": rows_note,
        "expected_rows": expected,
        **checked,
        "rows_per_second": round(rows / run.wall_seconds, 1) if run.wall_seconds else 0.0,
        "http_requests": stats.get("requests", 0),
        "method_calls": sum(calls.values()),
        "method_calls_by_method": calls,
        "rows_sent_by_emulator": stats.get("rows", 0),
        "server_seconds": round(server, 3),
        # What the portal's time alone allows: modelled server seconds at this time factor,
        # spread over the requests the client keeps in flight.
        "requests_in_flight": in_flight,
        "server_floor_wall_seconds": round(floor, 3) if floor else None,
        "wall_over_server_floor": round(run.wall_seconds / floor, 2) if floor else None,
        # Limit answers, whether as the HTTP status or inside an HTTP 200 batch (per command).
        "query_limit_exceeded": errors.get("QUERY_LIMIT_EXCEEDED", 0),
        "operation_time_limit": errors.get("OPERATION_TIME_LIMIT", 0),
        "http_503": http_status.get("503", 0),
        "http_429": http_status.get("429", 0),
        "http_status": http_status,
        "errors_sent": errors,
        "peak_rss_mb": round(run.max_rss_kb / 1024, 1),
        "cpu_user_seconds": round(run.user_seconds, 3),
        "cpu_sys_seconds": round(run.sys_seconds, 3),
        "cpu_us_per_row": round(cpu / rows * 1e6, 1) if rows else None,
        "exit_code": run.exit_code,
        "stderr_log": run.stderr_log,
    }


def _or_dash(value: float | None, form: str) -> str:
    return "-" if not value else form.format(value)


def table(rows: list[dict[str, Any]]) -> str:
    """The printed table."""
    head = [
        "client", "status", "wall s", "rows/s", "rows / expected", "missing", "dups", "HTTP req",
        "calls", "server s", "floor s", "wall/floor", "503s", "429s", "peak MB", "CPU µs/row",
        "emu CPU s",
    ]  # fmt: skip
    body = []
    for r in rows:
        got = f"{r['rows']:,}" + ("*" if r["rows_note"] else "")
        body.append([
            r["label"],
            r["status"],
            f"{r['wall_seconds']:.1f}",
            f"{r['rows_per_second']:,.0f}",
            f"{got} / {r['expected_rows']:,}",
            "-" if r["missing_ids"] is None else f"{r['missing_ids']:,}",
            "-" if r["duplicate_ids"] is None else f"{r['duplicate_ids']:,}",
            f"{r['http_requests']:,}",
            f"{r['method_calls']:,}",
            f"{r['server_seconds']:.1f}",
            _or_dash(r.get("server_floor_wall_seconds"), "{:.1f}"),
            _or_dash(r.get("wall_over_server_floor"), "{:.2f}"),
            str(r["query_limit_exceeded"]),
            str(r["operation_time_limit"]),
            f"{r['peak_rss_mb']:.0f}",
            "-" if r["cpu_us_per_row"] is None else f"{r['cpu_us_per_row']:.0f}",
            _or_dash(r.get("emulator_cpu_seconds"), "{:.1f}"),
        ])  # fmt: skip
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    right = set(range(2, len(head)))

    def fmt(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)
        )

    lines = [fmt(head), fmt(["-" * w for w in widths])] + [fmt(b) for b in body]
    notes = [f"  {r['label']}: {r['error'][:300]}" for r in rows if r["error"]]
    notes += [f"  {r['label']}: {r['stats_note']}" for r in rows if r.get("stats_note")]
    if any(r["rows_note"] for r in rows):
        notes.append("  * rows the emulator sent before the client was stopped")
    legend = (
        "missing / dups: IDs the client never delivered / delivered more than once, "
        "against the emulator's truth\n"
        "floor s: modelled server seconds x time factor / requests the client keeps in flight "
        "(the tap's max_parallel_requests, 1 for b24pysdk): the least wall time the portal "
        "allows it; wall/floor: how far above it the client stayed\n"
        "emu CPU s: the emulator's own CPU during the client's run (it shares the machine's "
        "cores with the client)\n"
        "503s / 429s: QUERY_LIMIT_EXCEEDED / OPERATION_TIME_LIMIT answers the emulator sent, "
        "as the HTTP status or per command inside a batch"
    )
    return "\n".join(lines + ["", legend] + (["", "errors / notes:", *notes] if notes else []))


def chart(result: dict[str, Any], path: Path) -> None:
    """Bars of wall time and rows/s per client (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["clients"]
    labels = [r["label"] for r in rows]
    colours = {
        "ok": "#2b8a3e",
        "incomplete": "#e8590c",
        "failed": "#c92a2a",
        "timed out": "#868e96",
    }
    colour = [colours.get(r["status"], "#495057") for r in rows]
    fig, (ax_wall, ax_rate) = plt.subplots(1, 2, figsize=(12, 0.6 * len(rows) + 2.4), sharey=True)
    y = list(range(len(rows)))
    walls = [r["wall_seconds"] for r in rows]
    rates = [r["rows_per_second"] for r in rows]
    ax_wall.barh(y, walls, color=colour)
    ax_rate.barh(y, rates, color=colour)
    ax_wall.set_yticks(y, labels)
    ax_wall.invert_yaxis()
    ax_wall.set_xlabel("wall time, s (lower is better)")
    ax_rate.set_xlabel("rows/s (higher is better)")
    for i, r in enumerate(rows):
        note = "" if r["status"] == "ok" else f"  {r['status']}"
        ax_wall.text(walls[i], i, f" {walls[i]:.1f} s{note}", va="center", fontsize=9)
        ax_rate.text(rates[i], i, f" {rates[i]:,.0f}", va="center", fontsize=9)
    for ax in (ax_wall, ax_rate):
        ax.set_xlim(0, max([*(ax.get_xlim()[1:]), 1]) * 1.35)
        ax.grid(axis="x", alpha=0.3)
    from matplotlib.patches import Patch

    shown = [s for s in colours if any(r["status"] == s for r in rows)]
    ax_rate.legend(
        handles=[Patch(color=colours[s], label=s) for s in shown], loc="lower right", fontsize=9
    )
    cost = result["cost_model_real_seconds"]
    fig.text(
        0.01,
        0.01,
        f"modelled server time: keyset page {cost['keyset_page_seconds']} s, COUNT "
        f"{cost['count_seconds_per_100k']} s and offset scan {cost['offset_seconds_per_100k']} s "
        f"per 100,000 rows; bucket {cost['bucket_rate']}/s burst {cost['bucket_size']}; operating "
        f"{cost['operating_limit_seconds']} s per 10 min; all x {result['time_factor']:g}. "
        f"Cap {result['timeout_seconds']:g} s per client.",
        fontsize=8,
        color="#495057",
    )
    fig.suptitle(
        f"{result['rows']:,} {result['stream']}, local Bitrix24 emulator (same data, limits and "
        f"server latency for every client), time factor {result['time_factor']:g}",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    """Parse arguments, run every client against one emulator, print and save the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--stream", choices=list(STREAM_CLIENTS), default="activities")
    parser.add_argument(
        "--rows", "--activities", type=int, default=100_000, dest="rows",
        help="rows of the stream in the emulator (default 100000)",
    )  # fmt: skip
    parser.add_argument(
        "--time-factor", type=float, default=DEFAULT_TIME_FACTOR,
        help="multiplies every modelled time: server latency, bucket drain, operating window "
        "(default 1: a real portal's pace; 0.1 makes a real minute take 6 s)",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=float, default=150,
        help="wall-clock cap per client in seconds (default 150); a client still running is "
        "stopped and reported as timed out with the rows it had",
    )  # fmt: skip
    parser.add_argument(
        "--clients",
        help="comma-separated subset of: "
        + "; ".join(f"{k}: {', '.join(v)}" for k, v in STREAM_CLIENTS.items()),
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("--name", default="", help="suffix of the results files (e.g. before)")
    parser.add_argument("--no-chart", action="store_true")
    args = parser.parse_args()
    clients = args.clients or ",".join(STREAM_CLIENTS[args.stream])
    names = [n.strip() for n in clients.split(",") if n.strip()]
    unknown = [n for n in names if n not in STREAM_CLIENTS[args.stream]]
    if unknown:
        parser.error(f"unknown client(s) for {args.stream}: {', '.join(unknown)}")
    factor = args.time_factor
    stream = args.stream
    tag = f"{args.rows}" if stream == "activities" else f"{stream}-{args.rows}"

    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    # One data set for every client: same seed, same anchor ("now" of the generated data).
    now = int(time.time())
    args.anchor = now - now % 86400
    rows: list[dict[str, Any]] = []
    emulators: list[dict[str, Any]] = []
    expected = 0
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for name in names:
            # A fresh emulator per client: a client stopped at its cap can leave minutes of
            # queued work in the emulator, which must not land on the next client's figures.
            emulator = Emulator(
                emulator_args(args, free_port()), LOGS / f"{tag}-{name}-emulator.log"
            )
            with emulator:
                emulator.configure(**cost_model_config())
                truth = emulator.truth_ids() if stream == "activities" else emulator.item_ids(DEALS)
                expected = len(truth)
                emulators.append(
                    {
                        "client": name,
                        "startup_seconds": round(emulator.startup_seconds, 1),
                        "config": emulator.configure(),  # the settings in force
                    }
                )
                argv, kind = client_argv(name, emulator.webhook, factor, Path(tmp), stream)
                emulator.reset_stats()
                emulator_cpu = emulator.cpu_seconds()
                print(f"running {CLIENTS[name]} …", flush=True)
                with StatsWatcher(emulator) as watcher:
                    run = run_client(
                        name,
                        argv,
                        kind=kind,
                        timeout=args.timeout,
                        log_path=LOGS / f"{tag}-{name}.log",
                        stream=stream,
                        id_field="ID" if stream == "activities" else "id",
                    )
                final = watcher.poll(timeout=20)
                if kind == "peer":
                    run.ids = read_ids(ids_file(name, Path(tmp)))
                row = summarize(run, watcher.snapshot, expected, truth, factor)
                row["emulator_cpu_seconds"] = round(emulator.cpu_seconds() - emulator_cpu, 2)
                if not final:
                    row["stats_note"] = (
                        f"emulator busy after the client stopped: its figures are those of "
                        f"{watcher.taken_at:.0f} s into the run"
                    )
                rows.append(row)
            print(
                f"  {row['status']}: {row['rows']:,} rows in {row['wall_seconds']:.1f} s, "
                f"missing {row['missing_ids']}, duplicates {row['duplicate_ids']}"
                + (f" ({row['error']})" if row["error"] else ""),
                flush=True,
            )
    result = {
        "stream": stream,
        "rows": args.rows,
        **({"activities": args.rows} if stream == "activities" else {}),
        "expected_rows": expected,
        "time_factor": factor,
        "timeout_seconds": args.timeout,
        "started_at": started_at,
        "cost_model_real_seconds": COST_MODEL,
        "emulator": {
            "args": emulator_args(args, 0),
            "per_client": emulators,
        },
        "machine": machine(),
        "clients": rows,
    }
    print()
    print(table(rows))
    stem = tag + ("" if factor == DEFAULT_TIME_FACTOR else f"-tf{factor:g}")
    stem += f"-{args.name}" if args.name else ""
    json_path = args.out / f"{stem}.json"
    write_json(json_path, result)
    print(f"\nfigures: {json_path}")
    if not args.no_chart:
        png = args.out / f"{stem}.png"
        chart(result, png)
        print(f"chart:   {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
