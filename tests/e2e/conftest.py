"""Fixtures for the end-to-end tests: real Meltano, target-jsonl, PostgreSQL and the emulator.

Nothing here skips silently. Missing Meltano or an unreachable PostgreSQL is a test ERROR with
instructions (``./scripts/test.sh`` installs and starts both). To leave these tests out, ask for
it: ``pytest -m 'not e2e'`` or ``TAP_BITRIX24_SKIP_E2E=1``.

Each test module gets its own emulator and its own throw-away Meltano project: a copy of the
repository's ``meltano.yml`` in a temp dir whose ``.meltano/extractors`` and ``.meltano/loaders``
are symlinks to the plugin venvs ``meltano install`` made in the repository (no reinstall per
test; Meltano is always called with ``--no-install`` so it never writes into them). The system
database (and so the state), the catalog cache, the logs and the outputs stay in the temp dir.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SKIP_ENV = "TAP_BITRIX24_SKIP_E2E"
E2E_ACTIVITIES = int(os.environ.get("E2E_ACTIVITIES", "3000"))
E2E_SEED = int(os.environ.get("E2E_SEED", "7"))
MELTANO_TIMEOUT = float(os.environ.get("E2E_MELTANO_TIMEOUT", "600"))
PLUGINS = {
    "extractors": ["tap-bitrix24"],
    "loaders": ["target-jsonl", "target-postgres"],
}
# Environment variables that would leak a developer's own configuration into the tests.
LEAKY_PREFIXES = ("MELTANO_", "TAP_BITRIX24_", "TARGET_JSONL_", "TARGET_POSTGRES_")


def _skip_if_asked() -> None:
    if os.environ.get(SKIP_ENV, "").strip().lower() in {"1", "true", "yes"}:
        pytest.skip(f"end-to-end tests skipped on request ({SKIP_ENV} is set)")


def parse_instant(value: str) -> dt.datetime:
    """Parse an ISO 8601 date-time with offset into an aware UTC datetime."""
    parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"date-time without an offset: {value!r}")
    return parsed.astimezone(dt.timezone.utc)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records from a target-jsonl file (split on newlines only: U+2028 may occur in values)."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.split("\n") if line.strip()]


def tail(text: str, chars: int = 6000) -> str:
    """Last part of a long output, for failure messages."""
    return text if len(text) <= chars else "...\n" + text[-chars:]


# --------------------------------------------------------------------------------- Meltano


@pytest.fixture(scope="session")
def meltano_bin() -> str:
    """The meltano executable: $MELTANO_BIN, <repo>/.meltano-venv/bin/meltano or PATH."""
    _skip_if_asked()
    candidates = [
        os.environ.get("MELTANO_BIN", ""),
        str(REPO / ".meltano-venv" / "bin" / "meltano"),
        shutil.which("meltano") or "",
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail(
        "meltano not found (looked at $MELTANO_BIN, .meltano-venv/bin/meltano, PATH). "
        "Run ./scripts/test.sh, which installs it, or set MELTANO_BIN.",
        pytrace=False,
    )


def _venv(kind: str, name: str) -> Path:
    return REPO / ".meltano" / kind / name / "venv"


def _meltano_install(meltano_bin: str, *args: str) -> None:
    proc = subprocess.run(
        [meltano_bin, "install", *args],
        cwd=REPO,
        env=_clean_env({"MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}),
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"`meltano install {' '.join(args)}` failed:\n{tail(proc.stdout + proc.stderr)}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def installed_plugins(meltano_bin: str) -> Path:
    """The repository's `.meltano` with every plugin installed and the tap's venv current.

    Same rules as scripts/_common.sh: `meltano install` when a venv is missing, a clean
    reinstall of the (editable) tap when pyproject.toml changed since it was installed, and of
    target-postgres when any file of its wrapper (loaders/target-postgres-tz) changed.
    """
    missing = [
        name
        for kind, names in PLUGINS.items()
        for name in names
        if not (_venv(kind, name) / "bin" / "python").exists()
    ]
    if missing:
        _meltano_install(meltano_bin)
    stamp = _venv("extractors", "tap-bitrix24").parent / "pyproject.sha256"
    digest = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()
    recorded = stamp.read_text().strip() if stamp.exists() else None
    if recorded != digest:
        if recorded is not None:
            _meltano_install(meltano_bin, "--clean", "tap-bitrix24")
        stamp.write_text(digest + "\n")
    # target-postgres is installed (not editable) from loaders/target-postgres-tz.
    stamp = _venv("loaders", "target-postgres").parent / "wrapper.sha256"
    digest = tree_digest(REPO / "loaders" / "target-postgres-tz")
    recorded = stamp.read_text().strip() if stamp.exists() else None
    if recorded != digest:
        if recorded is not None:
            _meltano_install(meltano_bin, "--clean", "target-postgres")
        stamp.write_text(digest + "\n")
    return REPO / ".meltano"


def tree_digest(root: Path) -> str:
    """The digest scripts/_common.sh's tree_digest prints for ROOT (`sha256sum` of the listing)."""
    listing = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        dirs = rel.parts[:-1]
        if (
            not path.is_file()
            or path.suffix == ".pyc"
            or "__pycache__" in dirs
            or (dirs and dirs[0] in {"build", "dist"})
            or any(d.endswith(".egg-info") for d in dirs)
        ):
            continue
        listing.append(("./" + rel.as_posix(), hashlib.sha256(path.read_bytes()).hexdigest()))
    listing.sort(key=lambda item: item[0].encode())
    text = "".join(f"{digest}  {name}\n" for name, digest in listing)
    return hashlib.sha256(text.encode()).hexdigest()


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(LEAKY_PREFIXES)}
    env.update(extra)
    return env


@dataclass
class Meltano:
    """A throw-away Meltano project sharing the repository's installed plugins."""

    bin: str
    root: Path
    env: dict[str, str] = field(default_factory=dict)

    def __call__(
        self, *args: str, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run `meltano ARGS` in the project; on failure the assertion shows the output."""
        full_env = _clean_env(
            {
                "MELTANO_PROJECT_ROOT": str(self.root),
                "MELTANO_ENVIRONMENT": "dev",
                "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
                "NO_COLOR": "1",
                **self.env,
                **(env or {}),
            }
        )
        cmd = [self.bin, *args]
        started = time.monotonic()
        proc = subprocess.run(
            cmd,
            cwd=self.root,
            env=full_env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=MELTANO_TIMEOUT,
            check=False,
        )
        took = time.monotonic() - started
        print(f"$ meltano {' '.join(args)}  [{took:.1f}s, exit {proc.returncode}]")
        if check and proc.returncode != 0:
            raise AssertionError(
                f"`meltano {' '.join(args)}` exited {proc.returncode} after {took:.1f}s\n"
                f"--- stdout ---\n{tail(proc.stdout)}\n--- stderr ---\n{tail(proc.stderr)}"
            )
        return proc

    def run(self, *blocks: str, env: dict[str, str] | None = None) -> None:
        """`meltano run --no-install BLOCKS` (flags such as --full-refresh may lead BLOCKS)."""
        self("run", "--no-install", *blocks, env=env)

    def state(self, state_id: str) -> dict[str, Any]:
        """`meltano state get STATE_ID` as a dict."""
        proc = self("--log-level=warning", "state", "get", state_id)
        try:
            return json.loads(proc.stdout)
        except json.JSONDecodeError as exc:
            raise AssertionError(
                f"`meltano state get {state_id}` did not print JSON:\n{proc.stdout!r}"
            ) from exc


@pytest.fixture(scope="module")
def meltano(
    meltano_bin: str, installed_plugins: Path, tmp_path_factory: pytest.TempPathFactory
) -> Meltano:
    """A fresh Meltano project (own system db and state) using the installed plugins."""
    root = tmp_path_factory.mktemp("meltano-project")
    shutil.copy(REPO / "meltano.yml", root / "meltano.yml")
    (root / ".meltano").mkdir()
    for kind in PLUGINS:
        (root / ".meltano" / kind).symlink_to(installed_plugins / kind, target_is_directory=True)
    return Meltano(bin=meltano_bin, root=root)


# -------------------------------------------------------------------------------- emulator


@dataclass
class Emulator:
    """A `python -m tap_bitrix24.emulator` process and its control endpoints."""

    proc: subprocess.Popen[bytes]
    url: str
    webhook_url: str
    log_path: Path

    def _call(self, path: str, payload: dict[str, Any] | None = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(
            self.url + path,
            data=data,
            headers={"Content-Type": "application/json"},
            method="GET" if payload is None else "POST",
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.load(resp)

    def truth_body(self) -> dict[str, Any]:
        """`GET /_emulator/truth` as sent: LAST_UPDATED strings as the portal prints them."""
        return self._call("/_emulator/truth")

    def truth(self) -> dict[int, dt.datetime]:
        """Activity ID -> LAST_UPDATED instant (UTC) as the emulator holds them now."""
        body = self.truth_body()
        truth = {int(k): parse_instant(v) for k, v in body["activities"].items()}
        assert body["count"] == len(truth), f"/_emulator/truth count {body['count']} != entries"
        return truth

    def bindings(self) -> set[tuple[int, int, int]]:
        """(ACTIVITY_ID, OWNER_TYPE_ID, OWNER_ID) of every binding the emulator holds now."""
        body = self.truth_body()
        return {
            (int(activity), int(owner_type), int(owner))
            for activity, pairs in body["bindings"].items()
            for owner_type, owner in pairs
        }

    def mutate(
        self,
        update: int = 0,
        insert: int = 0,
        delete: int = 0,
        rebind: int = 0,
        seed: int | None = None,
    ) -> dict[str, list[int]]:
        """Change activities in the emulator; returns the IDs per kind of change."""
        payload = {"update": update, "insert": insert, "delete": delete, "rebind": rebind}
        if seed is not None:
            payload["seed"] = seed
        body = self._call("/_emulator/mutate", payload)
        kinds = ("updated", "inserted", "deleted", "rebound")
        return {k: [int(i) for i in body.get(k, [])] for k in kinds}

    def stats(self) -> Any:
        """The emulator's request statistics."""
        return self._call("/_emulator/stats")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_emulator(
    log_dir: Path,
    activities: int = E2E_ACTIVITIES,
    seed: int = E2E_SEED,
    items: int | None = None,
) -> Emulator:
    """Start the emulator CLI on a free port and wait for its banner line.

    ``items``: CRM items of every type (default: the emulator's, 2000 a type).
    """
    secret = "e2e-" + uuid.uuid4().hex[:12]
    log_path = log_dir / "emulator.log"
    cmd = [
        sys.executable,
        "-u",
        "-m",
        "tap_bitrix24.emulator",
        "--host",
        "127.0.0.1",
        "--port",
        str(_free_port()),
        "--activities",
        str(activities),
        "--seed",
        str(seed),
        "--webhook-secret",
        secret,
        *([] if items is None else ["--items", f"*={items}"]),
    ]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        text = log_path.read_text(encoding="utf-8", errors="replace")
        for line in text.splitlines():
            if "webhook: " in line and line.startswith("Bitrix24 emulator on "):
                url = line.split("Bitrix24 emulator on ", 1)[1].split()[0]
                webhook = line.split("webhook: ", 1)[1].split()[0]
                assert webhook.endswith(f"/rest/1/{secret}/"), line
                return Emulator(
                    proc=proc, url=url.rstrip("/"), webhook_url=webhook, log_path=log_path
                )
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    proc.wait(10)
    pytest.fail(
        f"the emulator did not start ({' '.join(cmd)}):\n{tail(log_path.read_text())}",
        pytrace=False,
    )


@pytest.fixture(scope="module")
def emulator(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Emulator]:
    """A module-private emulator (tests in a module see each other's mutations).

    A module may set ``EMULATOR_ACTIVITIES`` to change the number of activities, and
    ``EMULATOR_ITEMS`` the number of CRM items of every type (at least max(50, activities / 4),
    the owners activities are bound to).
    """
    _skip_if_asked()
    activities = getattr(request.module, "EMULATOR_ACTIVITIES", E2E_ACTIVITIES)
    items = getattr(request.module, "EMULATOR_ITEMS", None)
    emu = start_emulator(tmp_path_factory.mktemp("emulator"), activities=activities, items=items)
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture(scope="module")
def project(meltano: Meltano, emulator: Emulator) -> Meltano:
    """The Meltano project wired to the module's emulator."""
    meltano.env["TAP_BITRIX24_WEBHOOK_URL"] = emulator.webhook_url
    return meltano


# ------------------------------------------------------------------------------ PostgreSQL


@dataclass
class Postgres:
    """Connection settings of the test database (set by ./scripts/test.sh: TEST_PG_*)."""

    host: str
    port: int
    user: str
    password: str
    database: str

    def connect(self) -> Any:
        """A psycopg connection in autocommit mode."""
        import psycopg

        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.database,
            autocommit=True,
            connect_timeout=10,
        )

    def target_env(self, schema: str) -> dict[str, str]:
        """target-postgres settings as Meltano environment variables."""
        return {
            "TARGET_POSTGRES_HOST": self.host,
            "TARGET_POSTGRES_PORT": str(self.port),
            "TARGET_POSTGRES_USER": self.user,
            "TARGET_POSTGRES_PASSWORD": self.password,
            "TARGET_POSTGRES_DATABASE": self.database,
            "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
        }


@pytest.fixture(scope="session")
def postgres() -> Postgres:
    """The test database; an ERROR (not a skip) when it is unreachable."""
    _skip_if_asked()
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.fail("psycopg is not installed: pip install -e '.[test]'", pytrace=False)
    pg = Postgres(
        host=os.environ.get("TEST_PG_HOST", "127.0.0.1"),
        port=int(os.environ.get("TEST_PG_PORT", "5432")),
        user=os.environ.get("TEST_PG_USER", "tap_bitrix24_test"),
        password=os.environ.get("TEST_PG_PASSWORD", "tap_bitrix24_test"),
        database=os.environ.get("TEST_PG_DATABASE", "tap_bitrix24_test"),
    )
    error = None
    try:
        with pg.connect() as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        error = str(exc).strip()
    if error is not None:
        pytest.fail(
            f"PostgreSQL is not reachable as {pg.user}@{pg.host}:{pg.port}/{pg.database}: "
            f"{error}\nRun ./scripts/test.sh (it installs/starts PostgreSQL and creates the "
            "role and database) or set TEST_PG_HOST/PORT/USER/PASSWORD/DATABASE.",
            pytrace=False,
        )
    return pg


@pytest.fixture(scope="module")
def pg_schema(postgres: Postgres, request: pytest.FixtureRequest) -> Iterator[str]:
    """A schema name private to the module, dropped afterwards."""
    digest = hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:6]
    schema = f"e2e_{digest}_{uuid.uuid4().hex[:8]}"
    yield schema
    with postgres.connect() as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
