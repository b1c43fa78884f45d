"""Client-side pacing and the compact STATE snapshots."""

from __future__ import annotations

import pytest

from tap_bitrix24.client.limits import LeakyBucket, OperatingBudget
from tap_bitrix24.walk.bindingset import BindingSnapshot, CommunicationSnapshot, RowSnapshot
from tap_bitrix24.walk.ownerset import OwnerTable


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_bucket_allows_the_burst_then_paces_at_the_rate():
    clock = FakeClock()
    bucket = LeakyBucket(2, 6, clock=clock, sleep=clock.sleep)  # keeps one slot in reserve
    waits = [bucket.acquire() for _ in range(9)]
    assert waits[:5] == [0, 0, 0, 0, 0]
    assert waits[5:] == pytest.approx([1 / 1.96] * 4)
    assert bucket.stats.rate_waits == 4


def test_a_503_fills_the_bucket():
    clock = FakeClock()
    bucket = LeakyBucket(2, 50, clock=clock, sleep=clock.sleep)
    bucket.mark_full()
    assert bucket.acquire() == pytest.approx(1 / 1.96)


def test_operating_budget_holds_calls_until_reset():
    clock = FakeClock()
    budget = OperatingBudget(limit=100, concurrency=2, clock=clock, sleep=clock.sleep)
    budget.observe("crm.activity.list", {"operating": 50, "operating_reset_at": 1060})
    budget.observe("crm.activity.list", {"operating": 60, "operating_reset_at": 1060})
    assert budget.wait_time("crm.activity.list") == 0  # 60 + 2 x 10 in flight < 100
    budget.observe("crm.activity.list", {"operating": 85, "operating_reset_at": 1060})
    budget.observe("crm.activity.list", {"operating": 70, "operating_reset_at": 1060})  # stale
    # 85 + 2 calls of up to 25 s each could cross 100: hold back until the window resets.
    assert budget.wait_time("crm.activity.list") == pytest.approx(60.5)
    assert budget.wait_time("batch") == 0
    budget.wait("crm.activity.list")
    assert clock.now >= 1060
    assert budget.wait_time("crm.activity.list") == 0


def test_binding_snapshot_roundtrip_and_changes():
    snapshot = BindingSnapshot()
    snapshot.put(10, [(2, 5), (3, 7)])
    snapshot.put(4, [(1, 1)])
    again = BindingSnapshot.decode(snapshot.encode())
    assert again.get(10) == ((2, 5), (3, 7))
    assert again.get(4) == ((1, 1),)
    again.put(10, [(2, 5)])
    again.forget(4)
    again.put(12, [(4, 9)])
    third = BindingSnapshot.decode(again.encode())
    assert dict(third.items()) == {10: ((2, 5),), 12: ((4, 9),)}


def test_garbled_binding_snapshot_is_refused():
    with pytest.raises(ValueError):
        BindingSnapshot.decode("b1:not-base64!")


def test_communication_id_snapshot_roundtrip():
    snapshot = CommunicationSnapshot()
    snapshot.put(7, [(41, 3, 9), (40, 1, 2)])
    snapshot.put(3, [(12, 4, 5)])
    again = CommunicationSnapshot.decode(snapshot.encode())
    assert dict(again.items()) == {3: ((12, 4, 5),), 7: ((40, 1, 2), (41, 3, 9))}
    with pytest.raises(ValueError):
        CommunicationSnapshot.decode(snapshot.encode()[:-4] + "AAAA")


def test_row_snapshot_reads_its_packing_and_the_previous_json_object():
    """product_rows' STATE of earlier releases is {"<item ID>": [row IDs]}."""
    old = {"12": [60000055, 60000054], "3": [7], "100": []}
    snapshot = RowSnapshot.read(old)
    assert dict(snapshot.items()) == {3: (7,), 12: (60000054, 60000055)}  # no empty entries
    snapshot.put(5, [9, 8])
    snapshot.forget(3)
    packed = snapshot.encode()
    assert packed.startswith("r1:")
    assert dict(RowSnapshot.read(packed).items()) == {5: (8, 9), 12: (60000054, 60000055)}
    assert len(RowSnapshot.read(None)) == 0


@pytest.mark.parametrize("saved", [{"x": [1]}, {"1": 5}, {"1": ["a"]}, 7, ["1"], "r1:garbled!"])
def test_garbled_row_snapshot_is_refused(saved: object) -> None:
    with pytest.raises(ValueError):
        RowSnapshot.read(saved)


def test_owner_table_lines_up_with_known_ids():
    table = OwnerTable([(9, 2, 500), (3, 1, 7), (9, 2, 500)])  # repeats collapse
    assert list(table.ids) == [3, 9] and table.get(9) == (2, 500) and table.get(4) is None
    again = OwnerTable.decode(table.encode_ids(), table.encode_owners())
    assert dict(again.items()) == {3: (1, 7), 9: (2, 500)}
    legacy = OwnerTable.decode(table.encode_ids(), None)  # STATE from before owners were kept
    assert 9 in legacy and legacy.get(9) is None
    with pytest.raises(ValueError):
        OwnerTable.decode(table.encode_ids(), OwnerTable([(1, 1, 1)]).encode_owners())
