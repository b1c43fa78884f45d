"""``python -m tap_bitrix24.emulator``: the banner line, serving, and a clean exit on signals."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
BANNER = re.compile(
    r"^Bitrix24 emulator on (http://127\.0\.0\.1:(\d+)) — webhook: "
    r"(http://127\.0\.0\.1:\d+/rest/7/cli-secret/) \((\d+) activities\)$"
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_banner_serves_and_exits_cleanly(sig) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tap_bitrix24.emulator",
            "--port",
            "0",
            "--activities",
            "120",
            "--seed",
            "4",
            "--webhook-secret",
            "cli-secret",
            "--user-id",
            "7",
            "--limits",
            "--time-factor",
            "0.5",
            "--scope",
            "crm, user,department",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode("utf-8").rstrip("\n")
        match = BANNER.match(line)
        assert match, line
        assert match.group(4) == "120"
        with requests.Session() as session:
            body = session.post(match.group(3) + "crm.activity.list", json={"start": 0}).json()
            assert body["total"] == 120
            config = session.get(match.group(1) + "/_emulator/config").json()
            assert config["limits"] is True and config["time_factor"] == 0.5
            assert config["scope"] == ["crm", "user", "department"]
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert b"Traceback" not in err and out == b""


def test_cli_rejects_bad_options() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tap_bitrix24.emulator", "--port", "0", "--utc-offset", "nonsense"],
        cwd=ROOT,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=30,
    )
    assert result.returncode == 2 and b"offset" in result.stderr
