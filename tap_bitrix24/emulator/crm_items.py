"""Deterministic CRM items per entity type: IDs stored, everything else derived from the seed.

Per type only the live IDs (``array``) and the overrides of mutated items are stored; created
and updated times come from a hash of (seed, type, id) and a row is derived from
(seed, type, id, version) when it is read, so a million items cost 8 bytes each until printed.
IDs start dense (1..count) so activity owners (1..owner_max) exist where the counts allow.
Raw rows hold Unix seconds for date/datetime fields (date fields as UTC midnight of the day);
:func:`print_value` turns them into the portal's ISO form.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

from .content import M64, YEAR, Draw, mix
from .crm_schema import FM_TYPES, SMART_INVOICE, Field, ItemType
from .crm_values import DAY, fm_values, plan
from .dates import PortalClock

DATE_TYPES = frozenset({"date", "datetime"})


class Record:
    """A derived item: raw values by field name, the ``fm`` list, file IDs by field."""

    __slots__ = ("fm", "raw")

    def __init__(self, raw: dict[str, Any], fm: list[dict[str, Any]] | None) -> None:
        self.raw = raw
        self.fm = fm


class TypeStore:
    """The items of one entity type."""

    def __init__(
        self, itype: ItemType, count: int, seed: int, anchor: int, sizes: dict[int, int]
    ) -> None:
        self.itype: ItemType = itype
        self.seed = seed
        self.anchor = anchor
        self.sizes: dict[int, int] = sizes  # initial counts of every type: targets of links
        self.initial = count
        self.ids = array("q", range(1, count + 1))
        self.max_id = count
        self.created_override: dict[int, int] = {}
        self.updated_override: dict[int, int] = {}
        self.versions: dict[int, int] = {}
        self.generation = 0
        self._key = mix((seed * 0x9E3779B97F4A7C15 ^ itype.entity_type_id * 7919) & M64)
        self._begin = anchor - 3 * YEAR
        self._step = 3 * YEAR / max(count, 1)
        self._cache: dict[int, tuple[int, Record]] = {}
        self._plan = plan(itype)

    # ------------------------------------------------------------- identity and times
    def position(self, ident: int) -> int | None:
        pos = bisect_left(self.ids, ident)
        if pos < len(self.ids) and self.ids[pos] == ident:
            return pos
        return None

    def exists(self, ident: int) -> bool:
        return self.position(ident) is not None

    def _hash(self, ident: int) -> int:
        return mix((self._key ^ ident * 0xD1B54A32D192ED03) & M64)

    def created(self, ident: int) -> int:
        """The createdTime (Unix seconds): increasing with the ID over three years."""
        override = self.created_override.get(ident)
        if override is not None:
            return override
        jitter = self._hash(ident) % max(1, int(self._step))
        return min(self._begin + int((ident - 1) * self._step) + jitter, self.anchor - 60)

    def updated(self, ident: int) -> int:
        """The updatedTime: half equal to created, some recent, ~3% one mass-update second."""
        override = self.updated_override.get(ident)
        if override is not None:
            return override
        created = self.created(ident)
        h = self._hash(ident) >> 20
        u = h & 1023
        h >>= 10
        if u < 560:
            return created
        if u < 870:
            return min(created + h % (60 * DAY), self.anchor - 1)
        if u < 970:
            return max(created, self.anchor - 1 - h % (2 * DAY))
        bulk = self.anchor - 400 * DAY + 50_417
        return bulk if bulk >= created else created

    # ------------------------------------------------------------- rows
    def record(self, ident: int) -> Record:
        version = self.versions.get(ident, 0)
        cached = self._cache.get(ident)
        if cached is not None and cached[0] == version:
            return cached[1]
        rec = self._derive(ident, version)
        if len(self._cache) > 20_000:
            self._cache.clear()
        self._cache[ident] = (version, rec)
        return rec

    def record_at(self, ident: int, version: int) -> Record:
        """The row as it was at a version (stage history and product rows look back)."""
        if version == self.versions.get(ident, 0):
            return self.record(ident)
        return self._derive(ident, version)

    def _derive(self, ident: int, version: int) -> Record:
        t = self.itype.entity_type_id
        d = Draw(self.seed, t * 1_000_003 + ident, version, 11)
        created, updated = self.created(ident), self.updated(ident)
        fm = fm_values(t, ident, Draw(self.seed, t, ident, 13 + version)) if t in FM_TYPES else None
        raw: dict[str, Any] = {}
        for name, make, f in self._plan:
            raw[name] = make(self, f, d, ident, created, updated, raw, fm)
        return Record(raw, fm)

    # ------------------------------------------------------------- mutation
    def update(self, idents: Iterable[int], now: int) -> list[int]:
        done = []
        for ident in idents:
            if not self.exists(ident):
                continue
            self.versions[ident] = self.versions.get(ident, 0) + 1
            self.updated_override[ident] = max(now, self.created(ident))
            self._cache.pop(ident, None)
            done.append(ident)
        self.generation += 1
        return done

    def insert(self, count: int, now: int) -> list[int]:
        done = []
        for _ in range(count):
            self.max_id += 1
            ident = self.max_id
            self.ids.append(ident)
            self.created_override[ident] = now
            self.updated_override[ident] = now
            done.append(ident)
        self.generation += 1
        return done

    def delete(self, idents: Iterable[int]) -> list[int]:
        done = []
        for ident in idents:
            pos = self.position(ident)
            if pos is None:
                continue
            del self.ids[pos]
            for table in (self.versions, self.created_override, self.updated_override):
                table.pop(ident, None)
            self._cache.pop(ident, None)
            done.append(ident)
        self.generation += 1
        return done


def print_value(f: Field, value: Any, clock: PortalClock, file_url: Any = None) -> Any:
    """A raw value in the crm.item JSON form (dates in the portal's zone, files with URLs)."""
    if value is None:
        return None
    if f.type in DATE_TYPES:
        if f.multiple:
            return [clock.fmt(v) for v in value]
        return clock.fmt(value)
    if f.type == "file" and file_url is not None:
        return file_url(f, value)
    return value


ITEM_OPS = ("update", "insert", "delete")
ITEM_ID_OPS = ("update_ids", "delete_ids")


def check_item_ops(spec: Any, stores: dict[int, TypeStore]) -> dict[int, dict[str, Any]]:
    """Validate per-type item mutations; a ValueError names the bad key.

    Shape: ``{"<entityTypeId>": {"update": n, "insert": n, "delete": n, "update_ids": [..],
    "delete_ids": [..]}}``.
    """
    if not isinstance(spec, dict):
        raise ValueError('items must be {"<entityTypeId>": {"update": n, ...}}')
    out: dict[int, dict[str, Any]] = {}
    for key, ops in spec.items():
        try:
            entity_type = int(key)
        except (TypeError, ValueError):
            raise ValueError(f"items: bad entityTypeId {key!r}") from None
        if entity_type not in stores:
            raise ValueError(f"items: no CRM type {entity_type}")
        if not isinstance(ops, dict):
            raise ValueError(f"items[{entity_type}] must be an object")
        for name, value in ops.items():
            if name in ITEM_OPS:
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"items[{entity_type}].{name} must be a non-negative integer")
            elif name in ITEM_ID_OPS:
                if not isinstance(value, list) or not all(
                    isinstance(i, int) and not isinstance(i, bool) for i in value
                ):
                    raise ValueError(f"items[{entity_type}].{name} must be a list of integer IDs")
            else:
                raise ValueError(f"items[{entity_type}]: unknown key {name}")
        out[entity_type] = dict(ops)
    return out


def mutate_items(
    stores: dict[int, TypeStore], spec: dict[int, dict[str, Any]], rng: Any, now: int
) -> dict[str, dict[str, list[int]]]:
    """Update, insert and hard-delete items per type; random picks are distinct live IDs.

    An update is a new version with updatedTime = now; inserts take IDs above the highest.
    """
    out: dict[str, dict[str, list[int]]] = {}
    for entity_type, ops in spec.items():
        store = stores[entity_type]
        taken: set[int] = set()
        chosen: dict[str, list[int]] = {}
        for op in ("update", "delete"):
            explicit = ops.get(f"{op}_ids")
            if explicit is None:
                live = [i for i in store.ids if i not in taken]
                explicit = sorted(rng.sample(live, min(ops.get(op, 0), len(live))))
            chosen[op] = [int(i) for i in explicit]
            taken |= set(chosen[op])
        out[str(entity_type)] = {
            "updated": store.update(chosen["update"], now),
            "inserted": store.insert(ops.get("insert", 0), now),
            "deleted": store.delete(chosen["delete"]),
        }
    return out


def build_stores(
    types: dict[int, ItemType], counts: dict[int, int], seed: int, anchor: int
) -> dict[int, TypeStore]:
    """A store per type with the configured counts."""
    sizes = dict(counts)
    return {t: TypeStore(itype, counts[t], seed, anchor, sizes) for t, itype in types.items()}


__all__ = ["SMART_INVOICE", "Record", "TypeStore", "build_stores", "print_value"]
