"""`meltano run tap-bitrix24 target-jsonl`: a full run, then an incremental run from the state.

The state is Meltano's own (system database of the throw-away project), exactly as a user's
`meltano run` keeps it between runs.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from .conftest import Emulator, Meltano, parse_instant, read_jsonl

pytestmark = pytest.mark.e2e

STATE_ID = "dev:tap-bitrix24-to-target-jsonl"
STREAM = "activities"
# An incremental run may repeat the activities sharing the bookmark's second, and only those:
# Bitrix24 filters LAST_UPDATED with second precision, so the tap asks for >= the bookmark.


def _bookmark(state: dict) -> dt.datetime:
    """The activities stream's LAST_UPDATED bookmark from `meltano state get` output."""
    singer_state = state.get("singer_state", state)
    stream_state = singer_state["bookmarks"][STREAM]
    assert stream_state.get("replication_key") == "LAST_UPDATED", stream_state
    return parse_instant(stream_state["replication_key_value"])


def _run(project: Meltano, out: Path, *flags: str) -> list[dict]:
    """One run with meltano.yml's selection (activities only) into OUT; its records."""
    project.run(
        *flags,
        "tap-bitrix24",
        "target-jsonl",
        env={
            "TARGET_JSONL_DESTINATION_PATH": str(out),
            "TARGET_JSONL_DO_TIMESTAMP_FILE": "false",
        },
    )
    written = sorted(p.name for p in out.glob("*.jsonl"))
    assert written in ([f"{STREAM}.jsonl"], []), f"meltano.yml selects {STREAM} only: {written}"
    return read_jsonl(out / f"{STREAM}.jsonl")


@pytest.fixture(scope="module")
def first_run(project: Meltano, emulator: Emulator, tmp_path_factory: pytest.TempPathFactory):
    """Full run into an empty directory; returns (records, truth at that time)."""
    truth = emulator.truth()
    records = _run(project, tmp_path_factory.mktemp("jsonl-run1"))
    return records, truth


def test_full_run_writes_every_activity(first_run) -> None:
    records, truth = first_run
    ids = [int(r["ID"]) for r in records]
    assert len(ids) == len(set(ids)), "a full run wrote some activities twice"
    missing = set(truth) - set(ids)
    unknown = set(ids) - set(truth)
    assert not missing and not unknown, (
        f"{len(missing)} activities missing (e.g. {sorted(missing)[:10]}), "
        f"{len(unknown)} not in the emulator (e.g. {sorted(unknown)[:10]})"
    )
    wrong = {
        int(r["ID"]): r["LAST_UPDATED"]
        for r in records
        if parse_instant(r["LAST_UPDATED"]) != truth[int(r["ID"])]
    }
    assert not wrong, f"LAST_UPDATED differs from the emulator for {len(wrong)}: {wrong}"
    assert all(isinstance(r["COMPLETED"], bool) for r in records), "COMPLETED is not boolean"


def test_state_holds_the_bookmark(project: Meltano, first_run) -> None:
    _, truth = first_run
    assert _bookmark(project.state(STATE_ID)) == max(truth.values())


def test_second_run_writes_only_the_changes(
    project: Meltano, emulator: Emulator, first_run, tmp_path: Path
) -> None:
    _, truth_before = first_run
    bookmark = _bookmark(project.state(STATE_ID))
    changes = emulator.mutate(update=40, insert=25)
    assert len(changes["updated"]) == 40 and len(changes["inserted"]) == 25, changes
    changed = set(changes["updated"]) | set(changes["inserted"])
    truth = emulator.truth()

    records = _run(project, tmp_path)
    ids = {int(r["ID"]) for r in records}
    assert changed <= ids, f"changes not extracted: {sorted(changed - ids)}"
    for r in records:
        assert parse_instant(r["LAST_UPDATED"]) == truth[int(r["ID"])], r["ID"]
    repeats = ids - changed
    not_at_bookmark = {i: truth_before[i] for i in repeats if truth_before[i] != bookmark}
    assert not not_at_bookmark, (
        f"the incremental run re-extracted unchanged activities older than the bookmark "
        f"{bookmark.isoformat()}: {not_at_bookmark}"
    )
    assert _bookmark(project.state(STATE_ID)) == max(truth.values())


def test_run_without_changes_repeats_at_most_the_bookmark_second(
    project: Meltano, emulator: Emulator, tmp_path: Path
) -> None:
    truth = emulator.truth()
    newest = max(truth.values())
    records = _run(project, tmp_path)
    ids = [int(r["ID"]) for r in records]
    at_newest = {i for i, ts in truth.items() if ts == newest}
    assert set(ids) <= at_newest, (
        f"a run with nothing changed re-extracted activities older than the bookmark "
        f"{newest.isoformat()}: {sorted(set(ids) - at_newest)[:20]}"
    )
    assert len(ids) == len(set(ids))
