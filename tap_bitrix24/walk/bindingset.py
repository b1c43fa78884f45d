"""A compact, JSON-safe snapshot of every activity's bindings, for STATE.

Bitrix24 deletes a removed binding without a trace. To tell the target which binding rows to
drop, the ``activity_bindings`` stream remembers the bindings it last emitted per activity.
Entries are sorted by activity ID and stored as varints (ID delta, count, then type and owner
ID per binding), deflated and base64-encoded: a few bytes per binding. In memory the snapshot is
three flat arrays, not a dict of tuples, so a million activities stay in tens of megabytes.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator

from tap_bitrix24.walk.packing import pack, unpack

PREFIX = "b1:"

Binding = tuple[int, int]  # (OWNER_TYPE_ID, OWNER_ID)


class BindingSnapshot:
    """Activity ID -> its bindings, as sorted flat arrays."""

    def __init__(self) -> None:
        self.ids = array("q")
        self.starts = array("q", [0])  # bindings of ids[i] are pairs[starts[i]:starts[i+1]]
        self.pairs = array("q")  # type, owner, type, owner, ...
        self._changes: dict[int, tuple[Binding, ...] | None] = {}
        self.version = 0  # moves when the content changes: an encoding can be reused until then

    def __len__(self) -> int:
        return len(self.ids) + sum(
            1 for k, v in self._changes.items() if v is not None and self._index(k) is None
        )

    def _index(self, activity_id: int) -> int | None:
        i = bisect_left(self.ids, activity_id)
        return i if i < len(self.ids) and self.ids[i] == activity_id else None

    def get(self, activity_id: int) -> tuple[Binding, ...]:
        """The bindings last emitted for ``activity_id`` (empty when unknown)."""
        if activity_id in self._changes:
            return self._changes[activity_id] or ()
        i = self._index(activity_id)
        if i is None:
            return ()
        flat = self.pairs[self.starts[i] * 2 : self.starts[i + 1] * 2]
        return tuple(zip(flat[0::2], flat[1::2], strict=True))

    def put(self, activity_id: int, bindings: Iterable[Binding]) -> None:
        """Remember the current bindings of an activity."""
        now = tuple(sorted(set(bindings)))
        if self.get(activity_id) != now:
            self.version += 1
        self._changes[activity_id] = now

    def forget(self, activity_id: int) -> None:
        """The activity is gone."""
        if self.get(activity_id):
            self.version += 1
        self._changes[activity_id] = None

    def items(self) -> Iterator[tuple[int, tuple[Binding, ...]]]:
        """Every (activity ID, bindings), sorted by ID, changes applied."""
        changed = sorted(self._changes)
        c = 0
        for i, activity_id in enumerate(self.ids):
            while c < len(changed) and changed[c] < activity_id:
                if self._changes[changed[c]]:
                    yield changed[c], self._changes[changed[c]]  # type: ignore[misc]
                c += 1
            if c < len(changed) and changed[c] == activity_id:
                if self._changes[activity_id]:
                    yield activity_id, self._changes[activity_id]  # type: ignore[misc]
                c += 1
                continue
            flat = self.pairs[self.starts[i] * 2 : self.starts[i + 1] * 2]
            yield activity_id, tuple(zip(flat[0::2], flat[1::2], strict=True))
        for activity_id in changed[c:]:
            if self._changes[activity_id]:
                yield activity_id, self._changes[activity_id]  # type: ignore[misc]

    def encode(self) -> str:
        """The STATE form."""

        def numbers() -> Iterator[int]:
            previous = 0
            for activity_id, bindings in self.items():
                yield activity_id - previous
                previous = activity_id
                yield len(bindings)
                for owner_type, owner_id in bindings:
                    yield owner_type
                    yield owner_id

        return pack(PREFIX, numbers())

    @classmethod
    def decode(cls, text: str | None) -> BindingSnapshot:
        """Read the STATE form; ValueError if it is garbled."""
        snapshot = cls()
        if text is None:
            return snapshot
        numbers = unpack(PREFIX, text)
        activity_id = 0
        try:
            for delta in numbers:
                activity_id += delta
                count = next(numbers)
                snapshot.ids.append(activity_id)
                for _ in range(count):
                    snapshot.pairs.append(next(numbers))
                    snapshot.pairs.append(next(numbers))
                snapshot.starts.append(len(snapshot.pairs) // 2)
        except StopIteration:
            raise ValueError("truncated binding snapshot") from None
        return snapshot
