"""Deleted activities and removed bindings reach PostgreSQL through `meltano run`.

`detect_deletes: true` with `activities` and `activity_bindings` selected: a full run loads both
tables, the emulator then hard-deletes some activities and rebinds others, and the next run
(incremental, from the state in Meltano's system database) carries tombstones
(`_sdc_deleted_at`). Two loads of the same portal, each with its own schema and state ID
(`--state-id-suffix`): with `hard_delete: true` the tombstoned rows are gone, with
`hard_delete: false` they stay, marked. Either way the live rows equal the emulator's truth.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from .conftest import Emulator, Meltano, Postgres

pytestmark = pytest.mark.e2e

# Bindings cost one batch request per 50 activities: keep them within the rate limit's burst.
EMULATOR_ACTIVITIES = 400
DELETE, REBIND, MUTATION_SEED = 6, 12, 20241
TAP_ENV = {
    "TAP_BITRIX24_DETECT_DELETES": "true",
    "TAP_BITRIX24__SELECT": json.dumps(["activities.*", "activity_bindings.*"]),
}
BINDING_KEY = ("ACTIVITY_ID", "OWNER_TYPE_ID", "OWNER_ID")


@dataclass
class Load:
    """One pipeline: its schema, its state ID suffix and its hard_delete setting."""

    name: str
    schema: str
    hard_delete: bool

    def run(self, project: Meltano, postgres: Postgres) -> None:
        """`meltano run` into this load's schema, with this load's state."""
        env = {
            **TAP_ENV,
            **postgres.target_env(self.schema),
            "TARGET_POSTGRES_HARD_DELETE": str(self.hard_delete).lower(),
            # The SDK keeps `_sdc_deleted_at` in a record only with add_record_metadata on (the
            # default, set here so that no one turns it off): otherwise it pops every `_sdc_*`
            # key before the sink sees the record, and a tombstone would become an ordinary
            # row with every column but the key and LAST_UPDATED null.
            "TARGET_POSTGRES_ADD_RECORD_METADATA": "true",
        }
        project.run("--state-id-suffix", self.name, "tap-bitrix24", "target-postgres", env=env)

    def activities(self, postgres: Postgres) -> dict[int, tuple[dt.datetime, bool]]:
        """ID -> (LAST_UPDATED as a UTC instant, tombstoned) of every row."""
        sql = (
            'SELECT "ID", "LAST_UPDATED", "_sdc_deleted_at" IS NOT NULL '
            f'FROM "{self.schema}"."activities"'
        )
        with postgres.connect() as conn:
            rows = conn.execute(sql).fetchall()
        assert len(rows) == len({r[0] for r in rows}), "duplicate IDs"
        return {int(i): (ts.astimezone(dt.timezone.utc), gone) for i, ts, gone in rows}

    def bindings(self, postgres: Postgres) -> dict[tuple[int, int, int], bool]:
        """(ACTIVITY_ID, OWNER_TYPE_ID, OWNER_ID) -> tombstoned, for every row."""
        keys = ", ".join(f'"{k}"' for k in BINDING_KEY)
        sql = (
            f'SELECT {keys}, "_sdc_deleted_at" IS NOT NULL FROM "{self.schema}"."activity_bindings"'
        )
        with postgres.connect() as conn:
            rows = conn.execute(sql).fetchall()
        triples = {(int(a), int(t), int(o)): gone for a, t, o, gone in rows}
        assert len(triples) == len(rows), "duplicate binding keys"
        return triples


@pytest.fixture(scope="module")
def loads(postgres: Postgres, request: pytest.FixtureRequest) -> Iterator[dict[str, Load]]:
    """The hard-delete and soft-delete pipelines, each in a schema dropped afterwards."""
    tag = uuid.uuid4().hex[:8]
    made = {
        name: Load(name=name, schema=f"e2e_deletes_{name}_{tag}", hard_delete=hard)
        for name, hard in (("hard", True), ("soft", False))
    }
    yield made
    with postgres.connect() as conn:
        for load in made.values():
            conn.execute(f'DROP SCHEMA IF EXISTS "{load.schema}" CASCADE')


@dataclass
class Truth:
    """What the emulator holds: activities with LAST_UPDATED, binding triples."""

    activities: dict[int, dt.datetime]
    bindings: set[tuple[int, int, int]]

    @classmethod
    def of(cls, emulator: Emulator) -> Truth:
        """The emulator's truth now."""
        return cls(activities=emulator.truth(), bindings=emulator.bindings())


@pytest.fixture(scope="module")
def first(project: Meltano, postgres: Postgres, loads: dict[str, Load], emulator) -> Truth:
    """Full load into both schemas; the truth they were loaded from."""
    truth = Truth.of(emulator)
    for load in loads.values():
        load.run(project, postgres)
    return truth


@pytest.fixture(scope="module")
def second(
    first: Truth, project: Meltano, postgres: Postgres, loads: dict[str, Load], emulator
) -> tuple[Truth, dict[str, list[int]]]:
    """Delete and rebind in the emulator, then an incremental run into both schemas."""
    changes = emulator.mutate(delete=DELETE, rebind=REBIND, seed=MUTATION_SEED)
    assert len(changes["deleted"]) == DELETE and len(changes["rebound"]) == REBIND, changes
    for load in loads.values():
        load.run(project, postgres)
    return Truth.of(emulator), changes


def assert_live_rows_are_the_truth(load: Load, postgres: Postgres, truth: Truth) -> None:
    """Rows without `_sdc_deleted_at` hold exactly the emulator's activities and bindings."""
    activities = {i: ts for i, (ts, gone) in load.activities(postgres).items() if not gone}
    missing, extra = (
        set(truth.activities) - set(activities),
        set(activities) - set(truth.activities),
    )
    assert not missing and not extra, (
        f"{load.name}: activities missing {sorted(missing)[:10]}, extra {sorted(extra)[:10]}"
    )
    stale = [i for i, ts in truth.activities.items() if activities[i] != ts]
    assert not stale, f"{load.name}: LAST_UPDATED differs for {sorted(stale)[:10]}"
    bindings = {b for b, gone in load.bindings(postgres).items() if not gone}
    assert bindings == truth.bindings, (
        f"{load.name}: bindings missing {sorted(truth.bindings - bindings)[:10]}, "
        f"extra {sorted(bindings - truth.bindings)[:10]}"
    )


def test_full_load_mirrors_the_emulator(
    first: Truth, loads: dict[str, Load], postgres: Postgres
) -> None:
    for load in loads.values():
        assert_live_rows_are_the_truth(load, postgres, first)
        assert not any(gone for _, gone in load.activities(postgres).values())
        assert not any(load.bindings(postgres).values())


def test_the_mutation_removed_bindings(
    first: Truth, second: tuple[Truth, dict[str, list[int]]]
) -> None:
    """The scenario is not vacuous: deleted activities had bindings, rebinds removed some."""
    after, changes = second
    removed = first.bindings - after.bindings
    deleted, rebound = set(changes["deleted"]), set(changes["rebound"])
    assert {a for a, _, _ in removed} & deleted == deleted, "a deleted activity had no binding"
    assert {a for a, _, _ in removed} & rebound, "no rebind removed a binding"
    assert {a for a, _, _ in after.bindings - first.bindings} <= rebound


def test_hard_delete_removes_deleted_activities_and_bindings(
    first: Truth,
    second: tuple[Truth, dict[str, list[int]]],
    loads: dict[str, Load],
    postgres: Postgres,
) -> None:
    after, _ = second
    load = loads["hard"]
    assert_live_rows_are_the_truth(load, postgres, after)
    marked = [i for i, (_, gone) in load.activities(postgres).items() if gone]
    assert not marked, f"tombstoned activities kept with hard_delete: {sorted(marked)[:10]}"
    marked_bindings = [b for b, gone in load.bindings(postgres).items() if gone]
    assert not marked_bindings, f"tombstoned bindings kept with hard_delete: {marked_bindings[:10]}"


def test_soft_delete_marks_deleted_activities_and_bindings(
    first: Truth,
    second: tuple[Truth, dict[str, list[int]]],
    loads: dict[str, Load],
    postgres: Postgres,
) -> None:
    after, changes = second
    load = loads["soft"]
    assert_live_rows_are_the_truth(load, postgres, after)
    marked = {i for i, (_, gone) in load.activities(postgres).items() if gone}
    assert marked == set(changes["deleted"])
    marked_bindings = {b for b, gone in load.bindings(postgres).items() if gone}
    assert marked_bindings == first.bindings - after.bindings


def test_state_keeps_the_known_ids(
    second: tuple[Truth, dict[str, list[int]]], project: Meltano, loads: dict[str, Load]
) -> None:
    for load in loads.values():
        state = project.state(f"dev:tap-bitrix24-to-target-postgres:{load.name}")
        bookmarks = state["singer_state"]["bookmarks"]
        assert "known_ids" in bookmarks["activities"], bookmarks["activities"].keys()
        assert "snapshot" in bookmarks["activity_bindings"], bookmarks["activity_bindings"].keys()
