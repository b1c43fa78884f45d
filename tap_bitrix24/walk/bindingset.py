"""Compact, JSON-safe snapshots of what a stream last emitted per activity (or item), for STATE.

Bitrix24 deletes a removed binding or product row, and re-inserts communications under new
IDs, without a trace. To tell the target which rows to drop, a stream remembers what it last
emitted per activity: ``activity_bindings`` the (OWNER_TYPE_ID, OWNER_ID) pairs,
``activity_communications`` the communication IDs with their CRM entity; ``product_rows`` the
row IDs per CRM item. Entries are sorted by activity ID and stored as varints (ID delta,
count, then the values of each entry), deflated and base64-encoded: a few bytes per entry. In
memory a snapshot is three flat arrays, not a dict of tuples, so a million activities stay in
tens of megabytes.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from typing import ClassVar, Generic, TypeVar

from tap_bitrix24.walk.packing import pack, unpack

Binding = tuple[int, int]  # (OWNER_TYPE_ID, OWNER_ID)
Entry = TypeVar("Entry")
S = TypeVar("S", bound="_Snapshot")


class _Snapshot(Generic[Entry]):
    """Activity ID -> its entries (each ``width`` integers), as sorted flat arrays."""

    PREFIX: ClassVar[str]
    WIDTH: ClassVar[int]

    def __init__(self) -> None:
        self.ids = array("q")
        self.starts = array("q", [0])  # entries of ids[i] are values[starts[i]:starts[i+1]]
        self.values = array("q")  # WIDTH integers per entry
        self._changes: dict[int, tuple[Entry, ...] | None] = {}
        self.version = 0  # moves when the content changes: an encoding can be reused until then

    def __len__(self) -> int:
        return len(self.ids) + sum(
            1 for k, v in self._changes.items() if v is not None and self._index(k) is None
        )

    def _index(self, activity_id: int) -> int | None:
        i = bisect_left(self.ids, activity_id)
        return i if i < len(self.ids) and self.ids[i] == activity_id else None

    def _entries(self, flat: array) -> tuple[Entry, ...]:
        raise NotImplementedError

    def _flatten(self, entry: Entry) -> Iterable[int]:
        raise NotImplementedError

    def _stored(self, i: int) -> tuple[Entry, ...]:
        width = self.WIDTH
        return self._entries(self.values[self.starts[i] * width : self.starts[i + 1] * width])

    def get(self, activity_id: int) -> tuple[Entry, ...]:
        """The entries last emitted for ``activity_id`` (empty when unknown)."""
        if activity_id in self._changes:
            return self._changes[activity_id] or ()
        i = self._index(activity_id)
        return () if i is None else self._stored(i)

    def put(self, activity_id: int, entries: Iterable[Entry]) -> None:
        """Remember the current entries of an activity."""
        now = tuple(sorted(set(entries)))  # type: ignore[type-var]
        if self.get(activity_id) != now:
            self.version += 1
        self._changes[activity_id] = now

    def forget(self, activity_id: int) -> None:
        """The activity is gone."""
        if self.get(activity_id):
            self.version += 1
        self._changes[activity_id] = None

    def items(self) -> Iterator[tuple[int, tuple[Entry, ...]]]:
        """Every (activity ID, entries), sorted by ID, changes applied."""
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
            yield activity_id, self._stored(i)
        for activity_id in changed[c:]:
            if self._changes[activity_id]:
                yield activity_id, self._changes[activity_id]  # type: ignore[misc]

    def encode(self) -> str:
        """The STATE form."""

        def numbers() -> Iterator[int]:
            previous = 0
            for activity_id, entries in self.items():
                yield activity_id - previous
                previous = activity_id
                yield len(entries)
                for entry in entries:
                    yield from self._flatten(entry)

        return pack(self.PREFIX, numbers())

    @classmethod
    def decode(cls: type[S], text: str | None) -> S:
        """Read the STATE form; ValueError if it is garbled."""
        snapshot = cls()
        if text is None:
            return snapshot
        numbers = unpack(cls.PREFIX, text)
        activity_id = 0
        try:
            for delta in numbers:
                activity_id += delta
                count = next(numbers)
                snapshot.ids.append(activity_id)
                for _ in range(count * cls.WIDTH):
                    snapshot.values.append(next(numbers))
                snapshot.starts.append(len(snapshot.values) // cls.WIDTH)
        except StopIteration:
            raise ValueError("truncated snapshot") from None
        return snapshot


class BindingSnapshot(_Snapshot[Binding]):
    """Activity ID -> the (OWNER_TYPE_ID, OWNER_ID) bindings last emitted."""

    PREFIX = "b1:"
    WIDTH = 2

    def _entries(self, flat: array) -> tuple[Binding, ...]:
        return tuple(zip(flat[0::2], flat[1::2], strict=True))

    def _flatten(self, entry: Binding) -> Iterable[int]:
        return entry


Communication = tuple[int, int, int]  # (ID, ENTITY_TYPE_ID, ENTITY_ID)


class CommunicationSnapshot(_Snapshot[Communication]):
    """Activity ID -> its communications last emitted: ID and CRM entity of each."""

    PREFIX = "c1:"
    WIDTH = 3

    def _entries(self, flat: array) -> tuple[Communication, ...]:
        return tuple(zip(flat[0::3], flat[1::3], flat[2::3], strict=True))

    def _flatten(self, entry: Communication) -> Iterable[int]:
        return entry


class RowSnapshot(_Snapshot[int]):
    """CRM item ID -> the IDs of its product rows last emitted (``product_rows``).

    The STATE of earlier releases held a JSON object ``{"<item ID>": [row IDs]}``;
    :meth:`read` takes either form.
    """

    PREFIX = "r1:"
    WIDTH = 1

    def _entries(self, flat: array) -> tuple[int, ...]:
        return tuple(flat)

    def _flatten(self, entry: int) -> Iterable[int]:
        return (entry,)

    @classmethod
    def read(cls, saved: object) -> RowSnapshot:
        """The snapshot from STATE: this encoding, the old JSON object, or nothing."""
        if saved is None or isinstance(saved, str):
            return cls.decode(saved)
        if not isinstance(saved, dict):
            raise ValueError("not a row snapshot")
        snapshot = cls()
        try:
            for item_id, row_ids in sorted(saved.items(), key=lambda kv: int(kv[0])):
                if not isinstance(row_ids, list):
                    raise ValueError(f"the rows of item {item_id} are not a list")
                if not row_ids:
                    continue  # an item without rows is not kept
                snapshot.ids.append(int(item_id))
                snapshot.values.extend(sorted({int(r) for r in row_ids}))
                snapshot.starts.append(len(snapshot.values))
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"garbled row snapshot ({exc})") from None
        return snapshot
