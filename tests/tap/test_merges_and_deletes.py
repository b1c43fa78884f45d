"""CRM merges, re-keyed communications and filtered deletes, replayed as a target would."""

from __future__ import annotations

from typing import Any

from tests.conftest import Control, fast_config, run_tap

STREAMS = ["activities", "activity_bindings"]


def replay(*runs: list[dict[str, Any]], key: tuple[str, ...]) -> dict[tuple, dict[str, Any]]:
    """Upsert records and delete tombstones by primary key, in order: the target's table."""
    table: dict[tuple, dict[str, Any]] = {}
    for records in runs:
        for record in records:
            pk = tuple(record[k] for k in key)
            if record.get("_sdc_deleted_at"):
                table.pop(pk, None)
            else:
                table[pk] = record
    return table


def _secondary_only(truth: dict[str, Any]) -> tuple[int, int]:
    """A CRM entity some activity is bound to that is no activity's owner."""
    owners = {tuple(o) for o in truth["owners"].values()}
    bound = {tuple(p) for pairs in truth["bindings"].values() for p in pairs}
    return sorted(p for p in bound - owners if p[0] in (2, 3, 4))[0]  # type: ignore[return-value]


def test_merges_reach_owners_and_bindings(fresh_emulator, control: Control) -> None:
    config = fast_config(fresh_emulator, detect_deletes=True)
    first = run_tap(config, streams=STREAMS)
    truth = control.get("truth")
    owner_type, owner_id = next(iter(truth["owners"].values()))
    secondary = _secondary_only(truth)
    # The emulator holds entity IDs 1..300 of every type (1,200 activities).
    merges = [(owner_type, owner_id), secondary]
    for entity_type, from_id in merges:
        into_id = from_id % 300 + 1
        control.post(
            "merge", {"entity_type_id": entity_type, "from_id": from_id, "into_id": into_id}
        )
    updated = control.post("mutate", {"update": 3, "delete": 2, "seed": 9})["updated"]

    second = run_tap(config, state=first.state, streams=STREAMS)
    truth = control.get("truth")
    activities = replay(first.by_stream["activities"], second.by_stream["activities"], key=("ID",))
    held = {str(k[0]): [r["OWNER_TYPE_ID"], r["OWNER_ID"]] for k, r in activities.items()}
    assert held == truth["owners"]
    bindings = replay(
        first.by_stream["activity_bindings"],
        second.by_stream["activity_bindings"],
        key=("ACTIVITY_ID", "OWNER_TYPE_ID", "OWNER_ID"),
    )
    expected = {(int(a), t, o) for a, pairs in truth["bindings"].items() for t, o in pairs}
    assert set(bindings) == expected
    for entity_type, from_id in merges:
        assert not any(k[1:] == (entity_type, from_id) for k in bindings)

    # Nothing left to follow: the next sync brings only the bookmark second's updates again.
    third = run_tap(config, state=second.state, streams=STREAMS)
    assert {r["ID"] for r in third.records} <= set(updated)
    assert {r["ACTIVITY_ID"] for r in third.by_stream.get("activity_bindings", [])} <= set(updated)


def test_filtered_deletes_tombstone_only_deleted_activities(fresh_emulator, control) -> None:
    config = fast_config(fresh_emulator, detect_deletes=True, filter={"COMPLETED": "N"})
    first = run_tap(config, streams=STREAMS)
    open_ids = sorted(r["ID"] for r in first.records)
    assert open_ids and all(r["COMPLETED"] is False for r in first.records)
    # An update of an open activity completes it (the emulator's odd versions): it leaves the
    # filter but still exists.
    left, deleted = open_ids[:4], open_ids[4:7]
    control.post("mutate", {"update_ids": left, "delete_ids": deleted, "seed": 3})
    second = run_tap(config, state=first.state, streams=STREAMS)
    tombstones = {r["ID"] for r in second.records if r.get("_sdc_deleted_at")}
    assert tombstones == set(deleted)
    gone_bindings = {
        r["ACTIVITY_ID"] for r in second.by_stream["activity_bindings"] if r.get("_sdc_deleted_at")
    }
    assert gone_bindings == set(deleted)


def test_communications_follow_rekeying_saves_deletes_and_merges(fresh_emulator, control) -> None:
    config = fast_config(fresh_emulator, detect_deletes=True)
    streams = ["activity_communications"]
    first = run_tap(config, streams=streams)
    rows = first.by_stream[streams[0]]
    with_comms = sorted({r["ACTIVITY_ID"] for r in rows})
    # Saving an activity re-inserts its communications under new IDs (SaveCommunications).
    control.post("mutate", {"update_ids": with_comms[:6], "delete_ids": with_comms[6:9], "seed": 2})
    # A merge rewrites ENTITY_ID in place (same IDs, LAST_UPDATED untouched).
    entity = next(r for r in rows if r["ACTIVITY_ID"] == with_comms[-1])
    merge = {
        "entity_type_id": entity["ENTITY_TYPE_ID"],
        "from_id": entity["ENTITY_ID"],
        "into_id": entity["ENTITY_ID"] % 300 + 1,
    }
    assert control.post("merge", merge)["moved"]
    second = run_tap(config, state=first.state, streams=streams)
    table = replay(rows, second.by_stream[streams[0]], key=("ID",))
    held = {k[0]: (r["ACTIVITY_ID"], r["VALUE"], r["ENTITY_ID"]) for k, r in table.items()}
    truth = control.get("truth/communications")
    expected = {
        int(c["ID"]): (int(activity), c["VALUE"], int(c["ENTITY_ID"]))
        for activity, items in truth.items()
        for c in items
    }
    assert held == expected


def test_an_activity_deleted_between_the_walk_and_the_id_walk_is_tombstoned(
    fresh_emulator, control: Control
) -> None:
    """A new activity read by the walk, then deleted before the end-of-run ID walk.

    It was never in the saved known IDs, so only the IDs this run emitted can tell the
    target to drop it.
    """
    config = fast_config(fresh_emulator, detect_deletes=True, max_parallel_requests=1)
    first = run_tap(config, streams=["activities"])
    new_id = control.post("mutate", {"insert": 1, "seed": 5})["inserted"][0]
    # A dry run from the same state counts the requests; the ID walk is the last one.
    control.post("stats/reset", {"keep_limits": True})
    run_tap(config, state=first.state, streams=["activities"])
    requests_per_run = control.get("stats")["requests"]
    control.post("stats/reset", {"keep_limits": True})
    control.post(
        "schedule", {"after_requests": requests_per_run - 1, "delete_ids": [new_id], "times": 1}
    )
    second = run_tap(config, state=first.state, streams=["activities"])
    emitted = [r for r in second.by_stream["activities"] if r["ID"] == new_id]
    assert [bool(r["_sdc_deleted_at"]) for r in emitted] == [False, True]
    table = replay(first.by_stream["activities"], second.by_stream["activities"], key=("ID",))
    assert set(table) == {(int(i),) for i in control.get("truth")["activities"]}
