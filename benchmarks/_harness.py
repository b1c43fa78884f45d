"""Shared parts of the benchmarks: the benchmark venv, the emulator process, measured clients.

Nothing here is part of the tap or of its test suite. The scripts that import it run inside
``benchmarks/.venv`` (created on first use by :func:`ensure_bench_venv`), which holds the peer
libraries, matplotlib and an editable install of this repository (for the emulator and the tap).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
VENV = BENCH / ".venv"
VENV_BIN = VENV / "bin"
VENV_PY = VENV_BIN / "python"
RESULTS = BENCH / "results"
LOGS = RESULTS / "logs"

#: What the benchmark venv holds besides the repository itself (installed editable).
REQUIREMENTS = [
    "b24pysdk>=1.3,<1.4",
    "fast-bitrix24>=1.8,<1.9",
    "requests",
    "matplotlib",
]
_IMPORT_CHECK = "import b24pysdk, fast_bitrix24, matplotlib, requests, tap_bitrix24.emulator"


# --------------------------------------------------------------------------- benchmark venv


def _stamp() -> str:
    text = (REPO / "pyproject.toml").read_bytes() + "\n".join(REQUIREMENTS).encode()
    return hashlib.sha256(text).hexdigest()


def ensure_bench_venv(script: str) -> None:
    """Run ``script`` inside ``benchmarks/.venv``: create and fill the venv first if needed.

    Returns only when already inside the venv; otherwise re-executes the script there.
    """
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    stamp_file = VENV / ".bench-stamp"
    fresh = (
        VENV_PY.exists()
        and stamp_file.exists()
        and stamp_file.read_text().strip() == _stamp()
        and subprocess.run([VENV_PY, "-c", _IMPORT_CHECK], capture_output=True).returncode == 0
    )
    if not fresh:
        print(f"benchmark venv: preparing {VENV.relative_to(REPO)} (peers, matplotlib, this repo)")
        if not VENV_PY.exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(VENV_PY), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, *REQUIREMENTS], check=True)
        subprocess.run([*pip, "-e", str(REPO)], check=True)
        check = subprocess.run([VENV_PY, "-c", _IMPORT_CHECK], capture_output=True, text=True)
        if check.returncode != 0:
            sys.exit(f"benchmark venv is not usable: {check.stderr.strip().splitlines()[-1:]}")
        stamp_file.write_text(_stamp() + "\n")
    os.execv(str(VENV_PY), [str(VENV_PY), script, *sys.argv[1:]])


# --------------------------------------------------------------------------- emulator


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call_url(url: str, body: dict | None = None, timeout: float = 60) -> Any:
    """GET ``url`` (POST ``body`` as JSON when given); the decoded JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


_READY = re.compile(r"webhook:\s*(\S+)")


class Emulator:
    """The project's Bitrix24 emulator (``python -m tap_bitrix24.emulator``) in a subprocess."""

    def __init__(self, args: list[str], log_path: Path, *, startup_timeout: float = 1800) -> None:
        self.args = args
        self.log_path = log_path
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.webhook = ""
        self.base = ""
        self.banner = ""
        self.startup_seconds = 0.0
        self.count = 0

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start it and wait for its ``webhook: …`` line."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("w")
        started = time.monotonic()
        self.proc = subprocess.Popen(
            [str(VENV_PY), "-u", "-m", "tap_bitrix24.emulator", *self.args],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            cwd=REPO,
            start_new_session=True,
        )
        log.close()
        lines: list[str] = []
        found = threading.Event()

        def read() -> None:
            assert self.proc and self.proc.stdout
            for line in self.proc.stdout:
                lines.append(line.rstrip("\n"))
                if not found.is_set() and _READY.search(line):
                    self.banner = line.strip()
                    found.set()
            found.set()  # stdout closed: it died (checked below)

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(self.startup_timeout) or not self.banner:
            self.stop()
            tail = self.log_path.read_text()[-2000:]
            raise RuntimeError(
                f"emulator did not start ({' '.join(self.args)}):\n" + "\n".join(lines) + tail
            )
        self.startup_seconds = time.monotonic() - started
        self.webhook = _READY.search(self.banner).group(1)  # type: ignore[union-attr]
        self.base = self.webhook.split("/rest/", 1)[0]
        counted = re.search(r"\((\d+) activities\)", self.banner)
        self.count = int(counted.group(1)) if counted else int(self.truth()["count"])

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not go within 10 s."""
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def cpu_seconds(self) -> float:
        """The emulator process's user+sys CPU so far (0 when it cannot be read).

        On a machine with few cores the emulator's own work can bound a client's wall time
        (crm.item.list rows cost it far more than activities): this shows when it does.
        """
        if not self.proc:
            return 0.0
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _call(self, path: str, body: dict | None = None, timeout: float = 60) -> Any:
        return call_url(self.base + path, body, timeout)

    def stats(self, timeout: float = 60) -> dict[str, Any]:
        """``GET /_emulator/stats``."""
        return self._call("/_emulator/stats", timeout=timeout)

    def reset_stats(self) -> None:
        """``POST /_emulator/stats/reset``."""
        self._call("/_emulator/stats/reset", {})

    def configure(self, **options: Any) -> Any:
        """``POST /_emulator/config``."""
        return self._call("/_emulator/config", options)

    def truth(self) -> dict[str, Any]:
        """``GET /_emulator/truth``."""
        return self._call("/_emulator/truth")

    def truth_ids(self) -> set[int]:
        """Every activity ID that exists: what a complete extraction delivers, once each."""
        return {int(ident) for ident in self.truth()["activities"]}

    def item_ids(self, entity_type_id: int) -> set[int]:
        """Every item ID of one CRM type (``GET truth/items``, without the rows)."""
        truth = self._call(f"/_emulator/truth/items?entityTypeId={entity_type_id}&rows=0")
        return {int(ident) for ident in truth["items"]}


class StatsWatcher:
    """Keeps the newest ``/_emulator/stats`` snapshot while a client runs.

    A client stopped at its time cap can leave a queue of slow requests in the emulator, which
    then answers nothing (the control routes included) until it has worked through them; the
    snapshot taken just before is the best figure there is then.
    """

    def __init__(self, emulator: Emulator, every: float = 2.0) -> None:
        self.emulator = emulator
        self.every = every
        self.snapshot: dict[str, Any] = {}
        self.taken_at = 0.0
        #: [seconds since start, modelled server seconds, requests] of every snapshot.
        self.history: list[list[float]] = []
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> StatsWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.poll(timeout=self.every)

    def poll(self, timeout: float) -> bool:
        """Take a snapshot now; False if the emulator did not answer in time."""
        try:
            self.snapshot = self.emulator.stats(timeout=timeout)
        except OSError:
            return False
        self.taken_at = time.monotonic() - self._started
        self.history.append(
            [
                round(self.taken_at, 2),
                float(self.snapshot.get("server_seconds") or 0),
                int(self.snapshot.get("requests") or 0),
            ]
        )
        return True


# --------------------------------------------------------------------------- measured clients


@dataclass
class ClientRun:
    """What one client process did, measured from outside."""

    name: str
    status: str = "ok"  # ok | incomplete | failed | timed out
    error: str = ""
    exit_code: int | None = None
    wall_seconds: float = 0.0
    rows: int = 0
    user_seconds: float = 0.0
    sys_seconds: float = 0.0
    max_rss_kb: int = 0
    stderr_log: str = ""
    ids: array | None = None  # activity IDs as delivered (duplicates kept), when known
    extra: dict[str, Any] = field(default_factory=dict)


_RECORD_PREFIXES = (b'\n{"type":"RECORD"', b'\n{"type": "RECORD"')


class _SingerCounter:
    """Counts RECORD lines of a Singer stream read in chunks and keeps one stream's IDs.

    Rows are not parsed: a regular expression picks each record's leading ID property (``ID``
    for activities, ``id`` for CRM items); only a line where it is not first (never, for the
    tap) is decoded as JSON.
    """

    def __init__(self, stream: str = "activities", id_field: str = "ID") -> None:
        self.rows = 0
        self.ids = array("q")
        self.last_state = b""
        self._carry = b"\n"
        self._id_field = id_field
        self._prefix = b'\n{"type":"RECORD","stream":"' + stream.encode() + b'","record":{'
        self._id = re.compile(re.escape(self._prefix) + b'"' + id_field.encode() + rb'":(\d+)[,}]')

    def feed(self, chunk: bytes) -> None:
        buffer = self._carry + chunk
        cut = buffer.rfind(b"\n")
        if cut < 0:
            self._carry = buffer
            return
        complete, self._carry = buffer[: cut + 1], buffer[cut:]
        self.rows += sum(complete.count(prefix) for prefix in _RECORD_PREFIXES)
        found = self._id.findall(complete)
        self.ids.extend(map(int, found))
        if len(found) != complete.count(self._prefix):
            self._ids_the_slow_way(complete)
        # `complete` starts with "\n" and ends with "\n"; keep the newest STATE line for reports.
        state_at = complete.rfind(b'\n{"type":"STATE"')
        if state_at >= 0:
            self.last_state = complete[state_at + 1 : complete.index(b"\n", state_at + 1)]

    def _ids_the_slow_way(self, complete: bytes) -> None:
        for line in complete.split(b"\n"):
            if line.startswith(self._prefix[1:]) and not self._id.match(b"\n" + line):
                self.ids.append(int(json.loads(line)["record"][self._id_field]))


def check_ids(delivered: Iterable[int] | None, truth: set[int]) -> dict[str, int | None]:
    """Unique, missing, duplicate and unknown IDs of one client's run, against the truth."""
    if delivered is None:
        return {"unique_ids": None, "missing_ids": None, "duplicate_ids": None, "unknown_ids": None}
    ids = list(delivered)
    unique = set(ids)
    return {
        "unique_ids": len(unique),
        "missing_ids": len(truth - unique),
        "duplicate_ids": len(ids) - len(unique),
        "unknown_ids": len(unique - truth),
    }


def read_ids(path: Path) -> array | None:
    """IDs a peer wrote, one per line; None if it wrote none (it failed before the end)."""
    try:
        text = path.read_text()
    except OSError:
        return None
    return array("q", (int(line) for line in text.split()))


def run_client(
    name: str,
    argv: list[str],
    *,
    kind: str,
    timeout: float,
    log_path: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stream: str = "activities",
    id_field: str = "ID",
    rss_every: float = 0.0,
) -> ClientRun:
    """Run one client process to the end (or to ``timeout``) and measure it.

    ``kind`` is ``singer`` (stdout is a Singer stream: RECORD lines are counted) or ``peer``
    (stdout carries ``ROWS n`` / ``DONE n`` / ``ERROR …`` lines from ``_peers.py``). CPU time and
    peak RSS come from ``wait4`` on the client's pid: they are that process's own figures.
    The IDs of ``stream`` (its ``id_field``) are kept for the completeness check. With
    ``rss_every`` > 0 the process's RSS is sampled that often (``extra["rss_samples"]``:
    ``[seconds since start, MB]``), to see whether memory stays flat over a long run.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    run = ClientRun(name=name, stderr_log=str(log_path.relative_to(REPO)))
    with log_path.open("wb") as log:
        started = time.monotonic()
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd or REPO,
            start_new_session=True,
        )
    timed_out = threading.Event()

    def stop_it() -> None:
        timed_out.set()
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 0.0)):
            try:
                os.killpg(proc.pid, sig)  # the client's own process group, started above
            except ProcessLookupError:
                return
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                if proc.returncode is not None:
                    return
                time.sleep(0.1)

    watchdog = threading.Timer(timeout, stop_it)
    watchdog.daemon = True
    watchdog.start()

    counter = _SingerCounter(stream, id_field)
    peer_lines: list[str] = []
    samples: list[list[float]] = []
    sampled = threading.Event()

    def sample_rss() -> None:
        status = Path(f"/proc/{proc.pid}/status")
        while not sampled.wait(rss_every):
            try:
                text = status.read_text()
            except OSError:
                return
            found = re.search(r"^VmRSS:\s+(\d+) kB", text, re.MULTILINE)
            if found:
                samples.append(
                    [round(time.monotonic() - started, 2), round(int(found[1]) / 1024, 1)]
                )

    if rss_every > 0:
        threading.Thread(target=sample_rss, daemon=True).start()

    def read_stdout() -> None:
        assert proc.stdout
        if kind == "singer":
            while chunk := proc.stdout.read1(1 << 20):
                counter.feed(chunk)
        else:
            for raw in proc.stdout:
                line = raw.decode(errors="replace").strip()
                if line.startswith("ROWS "):
                    counter.rows = int(line.split()[1])
                elif line:
                    peer_lines.append(line)

    reader = threading.Thread(target=read_stdout, daemon=True)
    reader.start()
    _pid, status, usage = os.wait4(proc.pid, 0)
    run.wall_seconds = time.monotonic() - started
    sampled.set()
    proc.returncode = os.waitstatus_to_exitcode(status)
    watchdog.cancel()
    reader.join(30)
    run.exit_code = proc.returncode
    run.user_seconds = usage.ru_utime
    run.sys_seconds = usage.ru_stime
    run.max_rss_kb = usage.ru_maxrss  # kB on Linux
    run.rows = counter.rows
    if kind == "singer":
        run.ids = counter.ids
    if samples:
        run.extra["rss_samples"] = samples
    if kind == "singer" and counter.last_state:
        run.extra["last_state_bytes"] = len(counter.last_state)

    for line in peer_lines:
        if line.startswith("DONE "):
            run.rows = int(line.split()[1])
        elif line.startswith("ERROR "):
            run.error = line.removeprefix("ERROR ")
    if timed_out.is_set():
        run.status = "timed out"
        run.error = f"timed out after {timeout:g} s"
    elif run.exit_code != 0:
        run.status = "failed"
        run.error = run.error or last_error_line(log_path) or f"exit status {run.exit_code}"
    return run


def last_error_line(log_path: Path) -> str:
    """The most telling line of a client's stderr: its last error-looking line, else the last."""
    try:
        lines = [ln.strip() for ln in log_path.read_text(errors="replace").splitlines()]
    except OSError:
        return ""
    lines = [ln for ln in lines if ln]
    for line in reversed(lines):
        if re.search(r"error|exception|traceback|fatal", line, re.IGNORECASE):
            return line[:400]
    return lines[-1][:400] if lines else ""


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON (creating the folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def tap_config(webhook: str, **settings: Any) -> dict[str, Any]:
    """A tap config for the emulator's webhook plus ``settings``."""
    return {"webhook_url": webhook, **settings}


def select_only(
    tap: Path | list[str], config: Path, stream: str | tuple[str, ...], out: Path
) -> Path:
    """A catalog (``--discover``) that selects ``stream`` (or each of a tuple) alone, in ``out``.

    ``tap`` is the tap's executable, or the argv that runs it.
    """
    wanted = (stream,) if isinstance(stream, str) else stream
    argv = [str(tap)] if isinstance(tap, (str, Path)) else list(tap)
    found = subprocess.run(
        [*argv, "--config", str(config), "--discover"], capture_output=True, text=True
    )
    if found.returncode != 0:
        raise RuntimeError(f"tap discovery failed: {last_line(found.stderr)}")
    catalog = json.loads(found.stdout)
    names = [entry["tap_stream_id"] for entry in catalog["streams"]]
    missing = [name for name in wanted if name not in names]
    if missing:
        raise RuntimeError(
            f"the tap discovered no stream {missing[0]!r} (it has {', '.join(names)})"
        )
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] in wanted
    out.write_text(json.dumps(catalog))
    return out


def last_line(text: str) -> str:
    """The last non-empty line of a text (for one-line errors)."""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:400] if lines else ""


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--", "tap_bitrix24"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {
        "repo_commit": head + (" + uncommitted tap_bitrix24 changes" if dirty else ""),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": sys.version.split()[0],
    }
