"""Shared fixtures: an emulated portal over HTTP, and helpers that run the tap for real."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tap_bitrix24.emulator import EmulatorServer

ROOT = Path(__file__).resolve().parents[1]
SECRET = "tst-webhook-secret-7f3a9c"


@dataclass
class SyncResult:
    """What one tap run wrote to stdout."""

    records: list[dict[str, Any]] = field(default_factory=list)
    by_stream: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    states: list[dict[str, Any]] = field(default_factory=list)
    schemas: list[dict[str, Any]] = field(default_factory=list)
    stdout: str = ""

    @property
    def state(self) -> dict[str, Any] | None:
        """The last STATE value emitted."""
        return self.states[-1] if self.states else None

    @property
    def ids(self) -> list[int]:
        """IDs of the emitted activities, in emission order."""
        return [r["ID"] for r in self.records]


def parse_singer(stdout: str) -> SyncResult:
    """Split Singer output on newlines only (records may hold U+2028)."""
    result = SyncResult(stdout=stdout)
    for line in stdout.split("\n"):
        if not line.strip():
            continue
        message = json.loads(line)
        kind = message.get("type")
        if kind == "RECORD":
            result.by_stream.setdefault(message["stream"], []).append(message["record"])
            if message["stream"] == "activities":
                result.records.append(message["record"])
        elif kind == "STATE":
            result.states.append(message["value"])
        elif kind == "SCHEMA":
            result.schemas.append(message)
    return result


def fast_config(emulator: EmulatorServer, **extra: Any) -> dict[str, Any]:
    """A webhook config for the emulator with quick retries."""
    config: dict[str, Any] = {
        "webhook_url": emulator.webhook_url,
        "requests_per_second": 1000,
        "burst": 1000,
        "retry_backoff_seconds": 0.01,
        "request_timeout": 10,
        "progress_interval_seconds": 0,
    }
    config.update(extra)
    return config


def run_tap(
    config: dict[str, Any],
    state: dict[str, Any] | None = None,
    *,
    streams: list[str] | None = None,
    catalog: dict[str, Any] | None = None,
) -> SyncResult:
    """Run a full sync in this process and capture its Singer output.

    ``streams`` selects exactly those streams (default: the tap's default selection), from a
    fresh discovery (``selected_catalog``) unless ``catalog`` is given.
    """
    from tap_bitrix24.output import BufferedMsgSpecWriter
    from tap_bitrix24.tap import TapBitrix24

    if streams is not None and catalog is None:
        catalog = selected_catalog(config, streams)
    buffer = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")  # the writer needs .buffer
    with redirect_stdout(buffer):
        tap = TapBitrix24(config=config, state=state, catalog=catalog, validate_config=True)
        try:
            tap.sync_all()
        finally:
            if isinstance(tap.message_writer, BufferedMsgSpecWriter):
                tap.message_writer.flush()  # what a failed sync still held
    buffer.flush()
    return parse_singer(buffer.buffer.getvalue().decode("utf-8"))


def discover(config: dict[str, Any]) -> dict[str, Any]:
    """The catalog ``--discover`` writes (CRM item streams included)."""
    from tap_bitrix24.tap import TapBitrix24

    return TapBitrix24(config=config, setup_mapper=False).discover_all()


def selected_catalog(config: dict[str, Any], streams: list[str]) -> dict[str, Any]:
    """A discovered catalog with exactly ``streams`` selected."""
    catalog = discover(config)
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


def run_cli(
    args: list[str], config: dict[str, Any] | None, tmp_path: Path, *, state: dict | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``tap-bitrix24`` executable."""
    argv = [sys.executable, "-m", "tap_bitrix24", *args]
    if config is not None:
        path = tmp_path / "config.json"
        path.write_text(json.dumps(config))
        argv += ["--config", str(path)]
    if state is not None:
        state_path = tmp_path / "state.json"
        state_path.write_text(json.dumps(state))
        argv += ["--state", str(state_path)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)


class Control:
    """The emulator's test hooks over HTTP."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/") + "/_emulator"

    def get(self, path: str) -> Any:
        response = requests.get(f"{self.url}/{path}", timeout=30)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = requests.post(f"{self.url}/{path}", json=body or {}, timeout=60)
        response.raise_for_status()
        return response.json() if response.content else None

    def delete(self, path: str) -> None:
        requests.delete(f"{self.url}/{path}", timeout=30).raise_for_status()

    def truth(self) -> dict[int, str]:
        return {int(k): v for k, v in self.get("truth")["activities"].items()}

    def stats(self) -> dict[str, Any]:
        return self.get("stats")


@pytest.fixture(scope="session")
def emulator():
    """A quiet portal shared by read-only tests (never mutate it)."""
    with EmulatorServer(activities=3000, seed=7, webhook_secret=SECRET) as server:
        yield server


@pytest.fixture
def fresh_emulator():
    """A private portal a test may change, fault or rate-limit."""
    with EmulatorServer(activities=1200, seed=11, webhook_secret=SECRET) as server:
        yield server


@pytest.fixture
def control(fresh_emulator) -> Control:
    return Control(fresh_emulator.url)


def run_until_killed(
    config: dict[str, Any],
    kill_after: int,
    tmp_path: Path,
    *,
    state: dict[str, Any] | None = None,
    catalog: dict[str, Any] | None = None,
    id_key: str = "ID",
) -> tuple[list[Any], dict[str, Any] | None]:
    """Run the CLI, SIGKILL it after ``kill_after`` RECORD lines: (record IDs, last STATE)."""
    (tmp_path / "config.json").write_text(json.dumps(config))
    argv = [sys.executable, "-m", "tap_bitrix24", "--config", str(tmp_path / "config.json")]
    for option, value in (("--state", state), ("--catalog", catalog)):
        if value is not None:
            path = tmp_path / f"{option[2:]}.json"
            path.write_text(json.dumps(value))
            argv += [option, str(path)]
    process = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    ids: list[Any] = []
    last_state = state
    assert process.stdout is not None
    for line in process.stdout:
        message = json.loads(line)
        if message["type"] == "RECORD":
            ids.append(message["record"][id_key])
            if len(ids) >= kill_after:
                process.send_signal(signal.SIGKILL)
                break
        elif message["type"] == "STATE":
            last_state = message["value"]
    process.stdout.close()
    process.wait(timeout=60)
    return ids, last_state
