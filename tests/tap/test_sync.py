"""Full and incremental syncs against the emulated portal, in both pagination modes."""

from __future__ import annotations

from datetime import datetime

import jsonschema
import pytest

from tests.conftest import Control, fast_config, run_tap


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


@pytest.mark.parametrize(
    "mode",
    [
        {"pagination": "keyset", "max_parallel_requests": 1},
        {"pagination": "keyset"},
        {"pagination": "offset"},
    ],
)
def test_full_sync_emits_every_activity_once(emulator, mode):
    truth = Control(emulator.url).truth()
    result = run_tap(fast_config(emulator, **mode))
    assert len(result.ids) == len(set(result.ids)), "an activity was emitted twice"
    assert set(result.ids) == set(truth)
    by_id = {r["ID"]: r for r in result.records}
    for activity_id, last_updated in list(truth.items())[:200]:
        assert _instant(by_id[activity_id]["LAST_UPDATED"]) == _instant(last_updated)


def test_records_validate_against_the_discovered_schema(emulator):
    result = run_tap(fast_config(emulator, include_communications=True, include_files=True))
    schema = result.schemas[0]["schema"]
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    for record in result.records:
        errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(record)]
        assert not errors, (record["ID"], errors[:3])
    assert any(r.get("COMMUNICATIONS") for r in result.records)
    assert any(r.get("FILES") for r in result.records)
    assert all(isinstance(r["ID"], int) for r in result.records)
    assert all(isinstance(r["COMPLETED"], bool) for r in result.records)


def test_files_and_communications_are_absent_unless_asked(emulator):
    result = run_tap(fast_config(emulator))
    assert not any("COMMUNICATIONS" in r or "FILES" in r for r in result.records)


def test_both_pagination_modes_and_parallel_walks_agree(emulator):
    keyset = run_tap(fast_config(emulator, pagination="keyset", max_parallel_requests=4))
    sequential = run_tap(fast_config(emulator, pagination="keyset", max_parallel_requests=1))
    offset = run_tap(fast_config(emulator, pagination="offset"))
    assert {r["ID"]: r for r in keyset.records} == {r["ID"]: r for r in offset.records}
    assert {r["ID"]: r for r in keyset.records} == {r["ID"]: r for r in sequential.records}


@pytest.mark.parametrize("pagination", ["keyset", "offset"])
def test_second_sync_emits_only_what_changed(fresh_emulator, control, pagination):
    config = fast_config(fresh_emulator, pagination=pagination)
    first = run_tap(config)
    bookmark = first.state["bookmarks"]["activities"]["replication_key_value"]
    assert "walk" not in first.state["bookmarks"]["activities"]

    changed = control.post("mutate", {"update": 15, "insert": 5, "seed": 3})
    second = run_tap(config, state=first.state)

    expected = set(changed["updated"]) | set(changed["inserted"])
    emitted = set(second.ids)
    assert expected <= emitted
    extra = emitted - expected
    truth = control.truth()
    # Anything else re-read must share the bookmark's second (the >= bound).
    for activity_id in extra:
        assert _instant(truth[activity_id]) == _instant(bookmark)
    assert len(extra) <= 10


def test_bookmark_never_passes_the_walk_start(fresh_emulator, control):
    """An activity updated behind the cursor mid-walk is caught by the next sync."""
    control.post(
        "schedule",
        {"after_requests": 3, "every_requests": 2, "times": 6, "update": 3, "seed": 5},
    )
    config = fast_config(fresh_emulator, max_parallel_requests=1)
    first = run_tap(config)
    control.delete("schedule")
    second = run_tap(config, state=first.state)
    latest: dict[int, str] = {}
    for record in first.records + second.records:
        latest[record["ID"]] = record["LAST_UPDATED"]
    truth = control.truth()
    missing = set(truth) - set(latest)
    assert not missing
    stale = [i for i, lu in truth.items() if _instant(latest[i]) != _instant(lu)]
    assert not stale, f"{len(stale)} activities kept an old version"


def test_start_date_limits_the_first_sync(emulator):
    truth = Control(emulator.url).truth()
    cut = sorted(truth.values())[len(truth) // 2]
    result = run_tap(fast_config(emulator, start_date=cut))
    expected = {i for i, lu in truth.items() if _instant(lu) >= _instant(cut)}
    assert set(result.ids) == expected


def test_user_filter_is_applied(emulator):
    result = run_tap(fast_config(emulator, filter={"OWNER_TYPE_ID": 2, "!TYPE_ID": 4}))
    assert result.records
    assert all(r["OWNER_TYPE_ID"] == 2 and r["TYPE_ID"] != 4 for r in result.records)
