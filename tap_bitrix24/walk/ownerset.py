"""Every known activity's owner (OWNER_TYPE_ID, OWNER_ID), for STATE.

A merge of CRM entities moves activity owners with a raw UPDATE that leaves LAST_UPDATED alone
(``CCrmActivity::Rebind``), so an incremental sync never sees it. The deletion ID walk reads the
owners too; comparing them with the ones saved last time finds the activities that moved. The
owners are stored aligned with ``known_ids`` (same order, no IDs of their own): every type, then
every owner ID, as varints, deflated and base64-encoded (3.4 bytes per activity measured on the
emulator's 100,000, whose owners are uniformly random: the floor is about 2.8).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator

from tap_bitrix24.walk.idset import decode_ids, encode_ids
from tap_bitrix24.walk.packing import pack, unpack

PREFIX = "o1:"

Owner = tuple[int, int]


def owner_key(owner_type: int, owner_id: int) -> int:
    """One integer per (type, ID) pair: a set of them costs a third of a set of tuples."""
    return (owner_type << 40) | owner_id


class OwnerTable:
    """Activity ID -> owner, as three parallel arrays sorted by ID."""

    def __init__(self, rows: Iterable[tuple[int, int, int]] = ()) -> None:
        self.ids = array("q")
        self.types = array("q")
        self.owners = array("q")
        for ident, owner_type, owner_id in rows:
            self.append(ident, owner_type, owner_id)
        self.settle()

    def append(self, ident: int, owner_type: int, owner_id: int) -> None:
        """Add a row (call :meth:`settle` once all are in)."""
        self.ids.append(ident)
        self.types.append(owner_type)
        self.owners.append(owner_id)

    def settle(self) -> None:
        """Sort by ID and drop repeats (a BINDINGS filter repeats rows).

        A keyset walk arrives sorted, so this is usually one pass without copies.
        """
        ids = self.ids
        if all(ids[i] < ids[i + 1] for i in range(len(ids) - 1)):
            return
        order = sorted(range(len(ids)), key=ids.__getitem__)
        keep = [i for n, i in enumerate(order) if n == 0 or ids[i] != ids[order[n - 1]]]
        self.ids = array("q", (ids[i] for i in keep))
        self.types = array("q", (self.types[i] for i in keep))
        self.owners = array("q", (self.owners[i] for i in keep))

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, ident: object) -> bool:
        return isinstance(ident, int) and self._index(ident) is not None

    def _index(self, ident: int) -> int | None:
        i = bisect_left(self.ids, ident)
        return i if i < len(self.ids) and self.ids[i] == ident else None

    def get(self, ident: int) -> Owner | None:
        """The owner of ``ident``, or None when it is not in the table (or its owner unknown)."""
        i = self._index(ident)
        if i is None or self.types[i] < 0:
            return None
        return self.types[i], self.owners[i]

    def owner_keys(self) -> set[int]:
        """Every current owner, as :func:`owner_key` integers (small in memory)."""
        return {owner_key(t, o) for t, o in zip(self.types, self.owners, strict=True)}

    def items(self) -> Iterator[tuple[int, Owner]]:
        """(activity ID, owner) in ID order."""
        return zip(self.ids, zip(self.types, self.owners, strict=True), strict=True)

    def encode_owners(self) -> str:
        """The owners, aligned with :meth:`encode_ids` of the same table."""

        def numbers() -> Iterator[int]:
            yield from (max(t, 0) for t in self.types)  # a column of few values deflates well
            yield from (max(o, 0) for o in self.owners)

        return pack(PREFIX, numbers())

    def encode_ids(self) -> str:
        """The IDs alone (``known_ids``)."""
        return encode_ids(self.ids)

    @classmethod
    def decode(cls, known: str, owners: str | None) -> OwnerTable:
        """Read ``known_ids`` and the aligned owners; without owners every owner is unknown.

        ValueError when either is garbled or they do not line up.
        """
        table = cls()
        table.ids = decode_ids(known)
        if owners is None:
            table.types = array("q", [-1]) * len(table.ids)
            table.owners = array("q", [-1]) * len(table.ids)
            return table
        numbers = array("q", unpack(PREFIX, owners))
        if len(numbers) != 2 * len(table.ids):
            raise ValueError("the owners do not line up with the known IDs")
        table.types = numbers[: len(table.ids)]
        table.owners = numbers[len(table.ids) :]
        return table
