"""Every CRM stream through `meltano run tap-bitrix24 target-postgres`, then incrementally.

The first run loads activities and every item stream (leads, deals, contacts, companies, quotes,
smart invoices and each smart process the portal has) into PostgreSQL; items then change in the
emulator (updates, inserts, deletes) and a second run, from the state Meltano saved, must leave
each table equal to the emulator's truth: same IDs, same `updatedTime` instants (timestamptz),
deleted items gone (`detect_deletes` tombstones, `hard_delete`). The second run reads only the
changes: far fewer requests than the first.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from .conftest import Emulator, Meltano, Postgres, parse_instant

pytestmark = pytest.mark.e2e

EMULATOR_ACTIVITIES = 2000
STATE_ID = "dev:tap-bitrix24-to-target-postgres"
#: stream -> entityTypeId, as the emulator's portal has them (three smart processes).
ITEM_STREAMS = {
    "leads": 1,
    "deals": 2,
    "contacts": 3,
    "companies": 4,
    "quotes": 7,
    "invoices": 31,
    "smart_process_128": 128,
    "smart_process_133": 133,
    "smart_process_1032": 1032,
}
CHANGES = {"update": 7, "insert": 4, "delete": 3}


def truth_items(emulator: Emulator, entity_type_id: int) -> dict[int, dt.datetime]:
    """Item ID -> updatedTime instant (UTC), as the emulator holds them now."""
    body = emulator._call(f"/_emulator/truth/items?entityTypeId={entity_type_id}&rows=0")
    items = {int(k): parse_instant(v) for k, v in body["items"].items()}
    assert body["count"] == len(items)
    return items


def loaded(postgres: Postgres, schema: str, table: str) -> dict[int, dt.datetime]:
    """Item ID -> updatedTime (UTC) of every row in ``schema.table``; updatedTime is timestamptz."""
    with postgres.connect() as conn:
        columns = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s",
                (schema, table),
            ).fetchall()
        )
        assert columns, f"no table {schema}.{table}"
        assert columns.get("updatedTime") == "timestamp with time zone", columns
        rows = conn.execute(f'SELECT "id", "updatedTime" FROM "{schema}"."{table}"').fetchall()
    return {int(i): ts.astimezone(dt.timezone.utc) for i, ts in rows}


def test_every_crm_stream_loads_and_follows_changes(
    project: Meltano, emulator: Emulator, postgres: Postgres, pg_schema: str
) -> None:
    env = {
        **postgres.target_env(pg_schema),
        "TARGET_POSTGRES_HARD_DELETE": "true",
        "TAP_BITRIX24_DETECT_DELETES": "true",
        "TAP_BITRIX24__SELECT": json.dumps(["activities.*", *(f"{s}.*" for s in ITEM_STREAMS)]),
    }
    project.run("tap-bitrix24", "target-postgres", env=env)
    first_requests = emulator.stats()["requests"]
    for stream, type_id in ITEM_STREAMS.items():
        assert loaded(postgres, pg_schema, stream) == truth_items(emulator, type_id), stream
    state = project.state(STATE_ID)["singer_state"]["bookmarks"]
    for stream in ITEM_STREAMS:
        assert state[stream]["replication_key"] == "updatedTime", stream
        assert state[stream]["replication_key_value"], stream

    changed = emulator._call(
        "/_emulator/mutate", {"items": {str(t): CHANGES for t in ITEM_STREAMS.values()}}
    )
    assert changed, "the emulator changed nothing"
    project.run("tap-bitrix24", "target-postgres", env=env)
    second_requests = emulator.stats()["requests"] - first_requests
    for stream, type_id in ITEM_STREAMS.items():
        truth = truth_items(emulator, type_id)
        assert loaded(postgres, pg_schema, stream) == truth, stream
    # Only the changes move: the incremental run costs a fraction of the full one.
    assert second_requests < first_requests, (second_requests, first_requests)
