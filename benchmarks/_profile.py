"""Where the tap's CPU goes: the tap with per-thread CPU clocks, or under cProfile in every thread.

Run as a script it *is* the tap (same arguments as ``tap-bitrix24``), with two additions chosen by
``BENCH_PROFILE_MODE``:

- ``threads``: each thread's own CPU time (``time.thread_time``), so the keyset walker's workers
  (HTTP, decoding) are told apart from the main thread (records, SDK, writing), unprofiled;
- ``profile``: the same, and every thread runs under its own ``cProfile.Profile`` timed by that
  thread's CPU clock (a wall clock would charge the workers' socket waits).

It writes ``threads.json``, and with ``profile`` ``main.prof`` and ``workers.prof`` (pstats files:
``python -m pstats`` or snakeviz read them) into the folder ``BENCH_PROFILE_OUT``. Imports happen
before profiling starts. :func:`breakdown` (used by ``tap_cpu.py``) sorts the profiled time into
the categories of issue #13.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import sys
import threading
import time
from pathlib import Path
from typing import Any

CATEGORIES = (
    "SDK record path",
    "our converter",
    "message writing",
    "HTTP + decoding",
    "walk/other",
)

#: singer_sdk files of the per-record path -> what the table calls them.
_SDK_PARTS = {
    "streams/core.py": "stream loop (core.py)",
    "helpers/_catalog.py": "pop_deselected_record_properties",
    "helpers/_typing.py": "conform",
    "helpers/_state.py": "increment_state",
    "streams/_state.py": "increment_state",
    "metrics.py": "metrics",
    "singerlib/messages.py": "RecordMessage",
    "mapper.py": "stream maps",
}
_WRITING_FILES = (
    "singer_sdk/contrib/msgspec.py",
    "singer_sdk/singerlib/encoding/",
    "io_base.py",
    "tap_bitrix24/output.py",  # the tap's buffered writer
)
_CONVERTER_FILES = (
    "tap_bitrix24/streams/schema.py",
    "tap_bitrix24/streams/item_schema.py",
    "tap_bitrix24/client/redact.py",
)
_HTTP_FILES = (
    "tap_bitrix24/client/",
    "/requests/",
    "/urllib3/",
    "/http/client.py",
    "/socket.py",
    "/ssl.py",
    "/json/",
    "/email/",
    "/idna/",
    "/charset_normalizer/",
    "/selectors.py",
)

Func = tuple[str, int, str]


def category(func: Func) -> tuple[str, str] | None:
    """(category, detail) of a function's own time; ``None``: charge it to its callers."""
    filename, _, name = func
    path = filename.replace("\\", "/")
    if path == "~":  # a built-in: known by its name, else its caller's
        if "msgspec.json.Encoder" in name or ("_io." in name and "write" in name):
            return "message writing", "encode / write"
        if "msgspec.json.Decoder" in name:
            return "HTTP + decoding", "msgspec decode"
        if "_socket" in name or "_ssl" in name:
            return "HTTP + decoding", "socket"
        return None
    if "/singer_sdk/" in path:
        if any(part in path for part in _WRITING_FILES):
            return "message writing", "SDK writer"
        for part, detail in _SDK_PARTS.items():
            if path.endswith("singer_sdk/" + part):
                return "SDK record path", detail
        return "SDK record path", "other SDK"
    if any(part in path for part in _WRITING_FILES):
        return "message writing", "tap writer (output.py)"
    if path.endswith("tap_bitrix24/sdk_private.py"):
        return "SDK record path", "record messages (sdk_private.py)"
    if any(part in path for part in _CONVERTER_FILES):
        return "our converter", path.rsplit("/", 1)[-1]
    if any(part in path for part in _HTTP_FILES):
        return "HTTP + decoding", "tap client" if "tap_bitrix24" in path else "requests/stdlib"
    if "/site-packages/" in path:
        return None  # click, backoff, simplejson ...: whoever called them
    if "/tap_bitrix24/" in path:
        return "walk/other", path.split("/tap_bitrix24/")[-1]
    return None  # the standard library's plumbing (threading, datetime, logging ...)


def _resolve(stats: dict[Func, Any], func: Func, seen: frozenset[Func] = frozenset()) -> tuple:
    found = category(func)
    if found is not None:
        return found
    callers = stats.get(func, (0, 0, 0, 0, {}))[4]
    if not callers or func in seen or len(seen) > 30:
        return "walk/other", "unattributed"
    heaviest = max(callers, key=lambda c: callers[c][3])
    return _resolve(stats, heaviest, seen | {func})


def breakdown(prof_file: Path, bias: dict[str, float] | None = None) -> dict[str, Any]:
    """Seconds of own (CPU) time per category and detail, plus the heaviest functions.

    ``bias`` (from :func:`calibrate`): the profiler's own cost per call, taken off each
    function's own time (per call it received and per call it made), so functions called a
    million times are not charged the profiler's microsecond each time.
    """
    raw: dict[Func, Any] = pstats.Stats(str(prof_file)).stats  # type: ignore[attr-defined]
    made: dict[Func, int] = {}
    for _func, (_cc, _nc, _tt, _ct, its_callers) in raw.items():
        for caller, edge in its_callers.items():
            made[caller] = made.get(caller, 0) + edge[1]
    callee_bias = (bias or {}).get("callee", 0.0)
    caller_bias = (bias or {}).get("caller", 0.0)

    def net(func: Func, nc: int, tt: float) -> float:
        return max(0.0, tt - nc * callee_bias - made.get(func, 0) * caller_bias)

    stats = {
        func: (cc, nc, net(func, nc, tt), ct, {
            c: (e[0], e[1], max(0.0, e[2] - e[1] * callee_bias), e[3])
            for c, e in callers.items()
        })
        for func, (cc, nc, tt, ct, callers) in raw.items()
    }  # fmt: skip
    total = 0.0
    by: dict[str, dict[str, float]] = {c: {} for c in CATEGORIES}

    def add(where: tuple[str, str], seconds: float) -> None:
        group, detail = where
        by[group][detail] = by[group].get(detail, 0.0) + seconds

    for func, (_cc, _nc, tt, _ct, callers) in stats.items():
        total += tt
        own = category(func)
        if own is not None:
            add(own, tt)
        elif callers:  # each caller gets its part of this function's time
            weights = {c: e[2] for c, e in callers.items()}
            if not sum(weights.values()):
                weights = {c: e[1] for c, e in callers.items()}
            whole = sum(weights.values()) or 1
            for caller, weight in weights.items():
                add(_resolve(stats, caller, frozenset({func})), tt * weight / whole)
        else:
            add(("walk/other", "unattributed"), tt)
    top = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:15]
    return {
        "seconds": round(total, 3),
        "categories": {
            c: {"seconds": round(sum(d.values()), 3), "detail": _rounded(d)} for c, d in by.items()
        },
        "top_functions": [
            {
                "function": f"{Path(f[0]).name}:{f[1]}({f[2]})",
                "own_seconds": round(v[2], 3),
                "calls": v[1],
                "category": (category(f) or _resolve(stats, f))[0],
            }
            for f, v in top
        ],
    }


def _rounded(detail: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in sorted(detail.items(), key=lambda kv: -kv[1])}


def _nothing() -> None:
    """An empty call, to time the profiler's own cost per call."""


def _calls(n: int) -> None:
    for _ in range(n):
        _nothing()


def calibrate(n: int = 200_000) -> dict[str, float]:
    """The profiler's own CPU per call, in seconds, as charged to the callee and the caller.

    Each event reads the thread's CPU clock, a system call of about a microsecond.
    """
    started = time.thread_time()
    _calls(n)
    bare = time.thread_time() - started
    profile = cProfile.Profile(time.thread_time_ns, 1e-9)
    profile.enable()
    _calls(n)
    profile.disable()
    stats: dict[Func, Any] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    callee = caller = 0.0
    for (_, _, name), (_cc, nc, tt, _ct, _callers) in stats.items():
        if name == "_nothing":
            callee = tt / max(nc, 1)
        elif name == "_calls":
            caller = max(0.0, tt - bare) / n
    return {"callee": callee, "caller": caller}


def main() -> int:
    """Run the tap with per-thread accounting (and profiles); see the module docstring."""
    mode = os.environ.get("BENCH_PROFILE_MODE", "profile")
    out = Path(os.environ["BENCH_PROFILE_OUT"])
    out.mkdir(parents=True, exist_ok=True)
    from tap_bitrix24.tap import TapBitrix24

    finished: list[tuple[str, float, cProfile.Profile | None]] = []
    lock = threading.Lock()
    original = threading.Thread.run

    def new_profile() -> cProfile.Profile | None:
        return cProfile.Profile(time.thread_time_ns, 1e-9) if mode == "profile" else None

    def run(self: threading.Thread) -> None:
        profile = new_profile()
        started = time.thread_time()
        if profile:
            profile.enable()
        try:
            original(self)
        finally:
            if profile:
                profile.disable()
            with lock:
                finished.append((self.name, time.thread_time() - started, profile))

    bias = calibrate() if mode == "profile" else {}
    threading.Thread.run = run  # type: ignore[method-assign]
    sys.argv = ["tap-bitrix24", *sys.argv[1:]]
    main_profile = new_profile()
    main_started = time.thread_time()
    code: Any = 0
    if main_profile:
        main_profile.enable()
    try:
        TapBitrix24.cli()
    except SystemExit as exc:
        code = exc.code
    finally:
        if main_profile:
            main_profile.disable()
        main_cpu = time.thread_time() - main_started
        sys.stdout.flush()
    with lock:
        done = list(finished)
    times = os.times()
    (out / "threads.json").write_text(
        json.dumps(
            {
                "mode": mode,
                "main_cpu_seconds": round(main_cpu, 3),
                "threads": [{"name": n, "cpu_seconds": round(c, 3)} for n, c, _ in done],
                "process_cpu_seconds": round(times.user + times.system, 3),
                "profile_bias_seconds_per_call": bias,
            }
        )
    )
    if main_profile:
        main_profile.dump_stats(str(out / "main.prof"))
        workers = [p for n, _, p in done if p is not None and n.startswith("keyset")]
        merged: pstats.Stats | None = None
        for profile in workers:
            try:
                merged = pstats.Stats(profile) if merged is None else merged.add(profile)
            except TypeError:  # a thread that made no call: nothing to add
                continue
        if merged is not None:
            merged.dump_stats(str(out / "workers.prof"))
    return code if isinstance(code, int) else 1


if __name__ == "__main__":
    sys.exit(main())
