"""Bindings, communications, BINDINGS filters and deletions made visible."""

from __future__ import annotations

from tests.conftest import fast_config, run_tap


def _pairs(records: list[dict]) -> set[tuple[int, int, int]]:
    return {(r["ACTIVITY_ID"], r["OWNER_TYPE_ID"], r["OWNER_ID"]) for r in records}


def _live(records: list[dict]) -> set[tuple[int, int, int]]:
    return _pairs([r for r in records if not r.get("_sdc_deleted_at")])


def test_default_selection_is_activities_only(emulator):
    result = run_tap(fast_config(emulator))
    assert set(result.by_stream) == {"activities"}


def test_bindings_stream_has_every_binding_and_follows_changes(fresh_emulator, control):
    config = fast_config(fresh_emulator)
    truth = control.get("truth")["bindings"]
    expected = {(int(a), t, o) for a, pairs in truth.items() for t, o in pairs}
    first = run_tap(config, streams=["activity_bindings"])
    records = first.by_stream["activity_bindings"]
    assert _live(records) == expected
    assert len(records) == len(expected)
    assert len({(r["ACTIVITY_ID"], r["OWNER_TYPE_ID"], r["OWNER_ID"]) for r in records}) == len(
        records
    )

    changed = control.post("mutate", {"rebind": 10, "seed": 4})
    second = run_tap(config, state=first.state, streams=["activity_bindings"])
    later = second.by_stream["activity_bindings"]
    assert {r["ACTIVITY_ID"] for r in later} >= set(changed["rebound"])
    # Replaying both syncs as a target would (upsert, delete tombstones) gives the truth.
    table: set[tuple[int, int, int]] = set()
    for record in records + later:
        key = (record["ACTIVITY_ID"], record["OWNER_TYPE_ID"], record["OWNER_ID"])
        (table.discard if record.get("_sdc_deleted_at") else table.add)(key)
    truth = control.get("truth")["bindings"]
    assert table == {(int(a), t, o) for a, pairs in truth.items() for t, o in pairs}
    assert any(r.get("_sdc_deleted_at") for r in later), "no removed binding was reported"


def test_communications_stream_alone(emulator):
    result = run_tap(fast_config(emulator), streams=["activity_communications"])
    rows = result.by_stream["activity_communications"]
    assert rows and set(result.by_stream) == {"activity_communications"}
    assert all(isinstance(r["ID"], int) and isinstance(r["ACTIVITY_ID"], int) for r in rows)
    assert all(isinstance(r["ENTITY_SETTINGS"], dict) for r in rows)
    full = run_tap(fast_config(emulator, include_communications=True))
    expected = {c["ID"] for r in full.records for c in r.get("COMMUNICATIONS") or []}
    assert {r["ID"] for r in rows} == expected


def test_bindings_filter_never_duplicates(emulator):
    flt = {"BINDINGS": [{"OWNER_TYPE_ID": 2}, {"OWNER_TYPE_ID": 3}]}
    for pagination in ("keyset", "offset"):
        result = run_tap(fast_config(emulator, filter=flt, pagination=pagination))
        assert result.ids and len(result.ids) == len(set(result.ids)), pagination


def test_deleted_activities_become_tombstones(fresh_emulator, control):
    config = fast_config(fresh_emulator, detect_deletes=True)
    first = run_tap(config)
    assert not any(r.get("_sdc_deleted_at") for r in first.records)
    assert "known_ids" in first.state["bookmarks"]["activities"]
    gone = control.post("mutate", {"delete": 7, "update": 3, "seed": 8})["deleted"]
    second = run_tap(config, state=first.state)
    tombstones = {r["ID"] for r in second.records if r.get("_sdc_deleted_at")}
    assert tombstones == set(gone)
    third = run_tap(config, state=second.state)
    assert not any(r.get("_sdc_deleted_at") for r in third.records)
