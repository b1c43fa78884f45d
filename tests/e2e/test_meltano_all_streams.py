"""Every stream, with COMMUNICATIONS and FILES, through both loaders.

target-jsonl validates each record against the stream's schema with a Draft 4 validator and
crashes on a violation; target-postgres turns each schema into a table. A small portal (200
activities, 50 items of every CRM type) keeps the binding calls (one batch request per 50
activities) within the rate limit's burst, and the two runs short: what is checked here is that
every stream's records pass both loaders, not volume.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import Emulator, Meltano, Postgres, read_jsonl

pytestmark = pytest.mark.e2e

EMULATOR_ACTIVITIES = 200
EMULATOR_ITEMS = 50  # of every CRM type: the activities' owners (1..50) all exist
ITEM_STREAMS = {"leads": 1, "deals": 2, "contacts": 3, "companies": 4, "quotes": 7, "invoices": 31}
ALL_STREAMS = {
    "TAP_BITRIX24__SELECT": json.dumps(["*.*"]),
    "TAP_BITRIX24_INCLUDE_COMMUNICATIONS": "true",
    "TAP_BITRIX24_INCLUDE_FILES": "true",
}


@pytest.fixture(scope="module")
def streams(project: Meltano, emulator: Emulator) -> list[str]:
    """Stream names from the tap's catalog, as Meltano discovers them.

    The webhook gets the `user` and `department` scopes, so `users` and `departments` have
    records too (the emulator's default webhook, like a CRM-only one, has neither).
    """
    emulator._call("/_emulator/config", {"scope": ["crm", "user", "department"]})
    proc = project("--log-level=warning", "invoke", "--no-install", "tap-bitrix24", "--discover")
    names = [s["tap_stream_id"] for s in json.loads(proc.stdout)["streams"]]
    assert "activities" in names, names
    return names


@pytest.fixture(scope="module")
def jsonl_dir(
    project: Meltano, streams: list[str], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Output directory of one all-streams `meltano run tap-bitrix24 target-jsonl`."""
    out = tmp_path_factory.mktemp("jsonl-all")
    env = {**ALL_STREAMS, "TARGET_JSONL_DESTINATION_PATH": str(out)}
    project.run("tap-bitrix24", "target-jsonl", env=env)
    return out


def test_jsonl_accepts_every_stream(jsonl_dir: Path, streams: list[str], emulator: Emulator):
    counts = {name: len(read_jsonl(jsonl_dir / f"{name}.jsonl")) for name in streams}
    assert all(counts.values()), f"streams without records: {counts}"
    activities = read_jsonl(jsonl_dir / "activities.jsonl")
    assert {int(r["ID"]) for r in activities} == set(emulator.truth())
    assert any(r.get("COMMUNICATIONS") for r in activities), "no COMMUNICATIONS selected"
    assert any(r.get("FILES") for r in activities), "no FILES selected"


def test_jsonl_rows_are_the_emulators(jsonl_dir: Path, streams: list[str], emulator: Emulator):
    """Items of every type, product rows and stage history: the emulator's rows, each once."""
    types = {**ITEM_STREAMS, **{n: int(n.rsplit("_", 1)[1]) for n in streams if "process_" in n}}
    for name, entity_type in types.items():
        ids = [r["id"] for r in read_jsonl(jsonl_dir / f"{name}.jsonl")]
        truth = emulator._call(f"/_emulator/truth/items?entityTypeId={entity_type}&rows=0")
        assert sorted(ids) == sorted(int(i) for i in truth["items"]), name
    truth = emulator._call("/_emulator/truth/dictionaries")
    rows = read_jsonl(jsonl_dir / "product_rows.jsonl")
    assert sorted((r["ownerType"], r["id"]) for r in rows) == sorted(
        (code, row["id"]) for code, items in truth["productRows"].items()
        for item_rows in items.values() for row in item_rows
    )  # fmt: skip
    history = read_jsonl(jsonl_dir / "stage_history.jsonl")
    assert sorted((r["entityTypeId"], r["ID"]) for r in history) == sorted(
        (int(t), row["ID"]) for t, type_rows in truth["stageHistory"].items() for row in type_rows
    )


def test_no_output_carries_the_webhook_secret(jsonl_dir: Path, emulator: Emulator):
    secret = emulator.webhook_url.rstrip("/").rsplit("/", 1)[1]
    for path in jsonl_dir.glob("*.jsonl"):
        assert secret not in path.read_text(encoding="utf-8"), f"{path.name} holds the secret"


def test_postgres_loads_every_stream(
    project: Meltano,
    postgres: Postgres,
    pg_schema: str,
    jsonl_dir: Path,
    streams: list[str],
):
    project.run(
        "tap-bitrix24", "target-postgres", env={**ALL_STREAMS, **postgres.target_env(pg_schema)}
    )
    with postgres.connect() as conn:
        tables = {
            name
            for (name,) in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (pg_schema,),
            )
        }
        assert set(streams) <= tables, tables
        count = conn.execute(f'SELECT count(*) FROM "{pg_schema}"."activities"').fetchone()[0]
    assert count == len(read_jsonl(jsonl_dir / "activities.jsonl"))
