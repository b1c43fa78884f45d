"""Deterministic activity data: compact columns in memory, everything else derived from (seed, id).

A million activities must fit in well under 100 MB, so only the columns the server filters and
sorts on cheaply are stored (``array`` module): id, created, last_updated, start_time, owner,
kind. Every other value -- subjects, descriptions, communications, files, bindings -- is a pure
function of (seed, id, version) and is derived when a row is read. Mutations keep small
overrides (a version counter per updated id, explicit binding lists for rebound or merged ids,
the first communication ID of re-saved ids, the merged-away CRM entities).
"""

from __future__ import annotations

import json
import random
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from .content import (
    APP,
    CALL,
    EMAIL,
    KIND_CUMULATIVE,
    KIND_PROVIDER,
    KIND_TYPE_ID,
    M64,
    MARK_N,
    MAX_DEADLINE_DAY,
    MEETING,
    OPENLINE,
    OWNER_CUMULATIVE,
    SECONDARY,
    SECONDARY_DEFAULT,
    TASK,
    TODO,
    VARIANTS,
    YEAR,
    Content,
    Draw,
    Variant,
    mix,
)
from .dates import PortalClock
from .fields import field_kinds
from .php import json_encode

NULL_TS = -(2**62)  # START_TIME stored as SQL NULL
_STATUS_JSON = {"1": b'"1"', "2": b'"2"', "3": b'"3"'}


class Record(NamedTuple):
    """A derived activity: its 39 default columns (API-formatted) and the extras."""

    row: dict[str, Any]
    end: int | None
    deadline: int | None
    files: list[int]
    incoming: str


def _files(ident: int, variant: Variant, h: int) -> tuple[int, ...]:
    """File IDs from the leftover hash bits of a row's core."""
    if h % 100 < (25 if variant.kind == EMAIL else 4):
        return tuple(ident * 8 + k for k in range(1 + (h >> 7) % 3))
    return ()


class Dynamic(NamedTuple):
    """Per-row values computed from (seed, id) and the stored columns."""

    ident: int
    variant: Variant
    number: str
    created: int
    updated: int
    start: int | None
    end: int | None
    deadline: int | None
    completed: str
    status: str
    responsible: int
    author: int
    editor: int
    files: tuple[int, ...]


class Dataset:
    """All activities of the portal, with deterministic content and cheap mutation."""

    def __init__(self, count: int, seed: int, anchor: int, clock: PortalClock) -> None:
        self.seed = int(seed)
        self.anchor = int(anchor)
        self.clock = clock
        self.ids = array("q")
        self.created = array("q")
        self.updated = array("q")
        self.start = array("q")
        self.owner_type = array("H")
        self.owner_id = array("q")
        self.kind = array("b")
        self.versions: dict[int, int] = {}
        self.bindings_override: dict[int, list[tuple[int, int]]] = {}
        # Communication IDs: ident * 4 + k unless the activity was saved since (then a base
        # from one auto-increment above every generated ID, like b_crm_act_comm.ID).
        self.comm_base: dict[int, int] = {}
        self.gone_entities: set[tuple[int, int]] = set()  # merged away: (type, id)
        # CRM items, when the portal models them: (type, id) -> exists, or None (not modelled).
        self.item_exists: Callable[[int, int], bool | None] | None = None
        self.generation = 0
        self.max_id_ever = 0
        self.owner_max = max(50, count // 4)
        self._cache: dict[int, tuple[int, Record]] = {}
        self._max_deadline = clock.local_ts(*MAX_DEADLINE_DAY)
        self._seed_key = mix(self.seed & M64)
        self.content = Content(self.seed, self.owner_max)
        self.variants = [
            [self.content.variant(kind, number) for number in range(VARIANTS)]
            for kind in range(len(KIND_TYPE_ID))
        ]
        self._generate(count)
        self.next_comm = 4 * (self.max_id_ever + 1)

    # ----------------------------------------------------------------- generation
    def _generate(self, count: int) -> None:
        rng = random.Random(self.seed * 1_000_003 + 17)
        bits = rng.getrandbits
        anchor = self.anchor
        span = 3 * YEAR
        begin = anchor - span
        step = span / max(count, 1)
        jitter_span = max(1, int(step))
        bulk = anchor - 400 * 86400 + 50_417  # one mass update: many rows share this second
        owner_max = self.owner_max
        ids, created, updated, start = self.ids, self.created, self.updated, self.start
        otype, oid, kinds = self.owner_type, self.owner_id, self.kind
        next_id = 1 + bits(4)
        prev_created = begin
        kind_cum = KIND_CUMULATIVE
        owner_cum = OWNER_CUMULATIVE
        for k in range(count):
            r = bits(64)
            g = r & 255
            r >>= 8
            if g < 170:
                gap = 1
            elif g < 225:
                gap = 2 + (r & 1)
            elif g < 250:
                gap = 4 + (r & 15)
            else:
                gap = 20 + (r & 511)
            r >>= 9
            ident = next_id
            next_id += gap
            c = begin + int(k * step) + (r & 0xFFFF) % jitter_span
            r >>= 16
            if (r & 31) == 0 or c < prev_created:
                c = prev_created
            r >>= 5
            if c > anchor - 60:
                c = max(prev_created, anchor - 60)
            prev_created = c
            u = r & 1023
            r >>= 10
            if u < 560:
                lu = c
            elif u < 870:
                lu = min(c + (r % (60 * 86400)), anchor - 1)
            elif u < 970:
                lu = max(c, anchor - 1 - (r % (2 * 86400)))
            else:
                lu = bulk if bulk >= c else c
            r2 = bits(64)
            w = r2 % 100
            r2 //= 100
            kind = 0
            while w >= kind_cum[kind]:
                kind += 1
            w = r2 % 100
            r2 //= 100
            ot = next(t for limit, t in owner_cum if w < limit)
            owner = 1 + r2 % owner_max
            r2 //= owner_max
            ids.append(ident)
            created.append(c)
            updated.append(lu)
            start.append(_start_for(kind, c, r2))
            otype.append(ot)
            oid.append(owner)
            kinds.append(kind)
        self.max_id_ever = ids[-1] if ids else 0

    # ----------------------------------------------------------------- lookup
    def __len__(self) -> int:
        return len(self.ids)

    def position(self, ident: int) -> int | None:
        """Position of an activity id, or None when it does not exist."""
        ids = self.ids
        pos = bisect_left(ids, ident)
        if pos < len(ids) and ids[pos] == ident:
            return pos
        return None

    def start_ts(self, pos: int) -> int | None:
        """START_TIME of a position (None when NULL)."""
        value = self.start[pos]
        return None if value == NULL_TS else value

    def record(self, pos: int) -> Record:
        """The derived row of a position (cached per id and version)."""
        ident = self.ids[pos]
        version = self.versions.get(ident, 0)
        cached = self._cache.get(ident)
        if cached is not None and cached[0] == version:
            return cached[1]
        rec = self._derive(pos, ident, version)
        if len(self._cache) > 20_000:
            self._cache.clear()
        self._cache[ident] = (version, rec)
        return rec

    def bindings(self, pos: int) -> list[tuple[int, int]]:
        """All (entityTypeId, entityId) bindings of a position, primary owner first."""
        ident = self.ids[pos]
        override = self.bindings_override.get(ident)
        if override is not None:
            return override
        return self._derived_bindings(ident, self.owner_type[pos], self.owner_id[pos])

    def _derived_bindings(self, ident: int, otype: int, oid: int) -> list[tuple[int, int]]:
        d = Draw(self.seed, ident, 2)
        roll = d.n(100)
        extra = 0 if roll < 35 else 1 if roll < 70 else 2 if roll < 90 else 3
        pairs = [(otype, oid)]
        kinds = SECONDARY.get(otype, SECONDARY_DEFAULT)
        for i in range(extra):
            pair = (kinds[i], 1 + d.n(self.owner_max))
            if pair not in pairs and pair not in self.gone_entities:
                pairs.append(pair)
        return pairs

    def _core(self, pos: int) -> tuple[Any, ...]:
        """Per-row values from (seed, id) and the stored columns, as a plain tuple (hot path).

        (ident, variant, number, created, updated, start, end, deadline, finished, status,
        responsible, author, editor, leftover hash bits)
        """
        ident = self.ids[pos]
        h = mix((self._seed_key ^ ident * 0xD1B54A32D192ED03) & M64)
        kind = self.kind[pos]
        variant = self.variants[kind][(h & 0xFFFF) % VARIANTS]
        h >>= 16
        number = str(100 + (h & 0x3FFF) % 9900)
        h >>= 14
        created = self.created[pos]
        start: int | None = self.start[pos]
        if start == NULL_TS:
            start = None
        spread = h & 0xFFFFF
        h = mix(h ^ 0x5DEECE66D)  # fresh bits for the rest
        deadline = end = start
        if kind == CALL:
            end = (start or created) + spread % 1500
        elif kind == OPENLINE:
            end = created + spread % 28_800
            deadline = self._max_deadline
        elif kind == TODO:
            if start is None:
                deadline = self._max_deadline if spread % 10 < 6 else created + spread % 2_592_000
        elif kind == MEETING:
            end = (start or created) + 3600
        elif kind == TASK:
            end = deadline = created + 86400 * (1 + spread % 20)
        responsible = 1 + (h & 63) % 40
        author = 1 + ((h >> 6) & 63) % 40
        editor = author if (h >> 12) & 1 else 1 + ((h >> 13) & 63) % 40
        roll = (h >> 19) % 100
        h >>= 26
        status_roll = h % 5
        h >>= 3
        if kind == OPENLINE:
            finished = created < self.anchor - 7 * 86400 or roll < 50
        else:
            finished = (deadline is not None and deadline < self.anchor - 86400) or roll < 30
        status = ("3" if status_roll == 0 else "2") if finished else "1"
        return (
            ident,
            variant,
            number,
            created,
            self.updated[pos],
            start,
            end,
            deadline,
            finished,
            status,
            responsible,
            author,
            editor,
            h,
        )

    def _dynamic(self, pos: int) -> Dynamic:
        """The per-row values: which variant, the number in its texts, times, people, status."""
        core = self._core(pos)
        files = _files(core[0], core[1], core[13])
        return Dynamic._make((*core[:8], "Y" if core[8] else "N", *core[9:13], files))

    def file_ids(self, pos: int) -> tuple[int, ...]:
        """The row's file IDs without deriving the row (FILES of a list page)."""
        core = self._core(pos)
        return _files(core[0], core[1], core[13])

    def fragment(self, pos: int) -> bytes:
        """The row's JSON for the default select, exactly as :func:`json_encode` would print it.

        The hot path of every list call: the variant's byte template filled with the row's
        values, picked into slot order by a precomputed itemgetter.
        """
        ident = self.ids[pos]
        if ident in self.versions:
            return json_encode(self.record(pos).row)
        (_, variant, number, created, updated, start, end, deadline, finished, status,
         responsible, author, editor, _) = self._core(pos)  # fmt: skip
        fmt = self.clock.fmt_json
        created_text = fmt(created)
        updated_text = created_text if updated == created else fmt(updated)
        start_text = created_text if start == created else fmt(start)
        end_text = start_text if end == start else fmt(end)
        if deadline == start:
            deadline_text = start_text
        elif deadline == end:
            deadline_text = end_text
        else:
            deadline_text = fmt(deadline)
        values = (
            b'"%d"' % ident,
            b'"%d"' % self.owner_id[pos],
            b'"%d"' % self.owner_type[pos],
            created_text,
            updated_text,
            start_text,
            end_text,
            deadline_text,
            b'"Y"' if finished else b'"N"',
            _STATUS_JSON[status],
            b'"%d"' % responsible,
            b'"%d"' % author,
            b'"%d"' % editor,
            number.encode(),
        )
        return variant.template % variant.pick(values)

    def _derive(self, pos: int, ident: int, version: int) -> Record:
        dyn = self._dynamic(pos)
        variant = dyn.variant
        fmt = self.clock.fmt
        row = variant.row.copy()
        number = dyn.number
        for field in variant.text_fields:
            row[field] = row[field].replace(MARK_N, number)
        row["ID"] = str(ident)
        row["OWNER_ID"] = str(self.owner_id[pos])
        row["OWNER_TYPE_ID"] = str(self.owner_type[pos])
        row["CREATED"] = fmt(dyn.created)
        row["LAST_UPDATED"] = fmt(dyn.updated)
        row["START_TIME"] = fmt(dyn.start)
        row["END_TIME"] = fmt(dyn.end)
        row["DEADLINE"] = fmt(dyn.deadline)
        completed, status = dyn.completed, dyn.status
        editor = dyn.editor
        if version:
            v = Draw(self.seed, ident, version, 3)
            editor = 1 + v.n(40)
            if version % 2:
                completed, status = "Y", "2"
            if row["DESCRIPTION"] is not None:
                row["DESCRIPTION"] = f"{row['DESCRIPTION']}\n[изменено #{version}]"
        row["COMPLETED"] = completed
        row["STATUS"] = status
        row["RESPONSIBLE_ID"] = str(dyn.responsible)
        row["AUTHOR_ID"] = str(dyn.author)
        row["EDITOR_ID"] = str(editor)
        incoming = (
            "Y"
            if completed == "N" and (variant.kind == OPENLINE or variant.direction == "1")
            else "N"
        )
        return Record(row, dyn.end, dyn.deadline, list(dyn.files), incoming)

    def communications(self, pos: int) -> list[dict[str, Any]]:
        """COMMUNICATIONS items of a position, ordered by communication ID."""
        ident = self.ids[pos]
        base = self.comm_base.get(ident, ident * 4)
        return self.content.communications(
            ident, self.kind[pos], self.bindings(pos), Draw(self.seed, ident, 4), base
        )

    def entity_exists(self, entity_type: int, entity_id: int) -> bool:
        """The portal's CRM items where modelled; else 1..owner_max minus the merged-away ones."""
        if self.item_exists is not None:
            known = self.item_exists(entity_type, entity_id)
            if known is not None:
                return known
        if not 1 <= entity_id <= self.owner_max:
            return False
        return (entity_type, entity_id) not in self.gone_entities

    def _live_entity(self, entity_type: int, rng: random.Random) -> int:
        for _ in range(100):
            entity_id = 1 + rng.randrange(self.owner_max)
            if self.entity_exists(entity_type, entity_id):
                return entity_id
        raise ValueError(f"no CRM entity of type {entity_type} is left")

    def _resave_communications(self, ident: int) -> None:
        """CCrmActivity::SaveCommunications deletes and re-inserts them: new IDs."""
        self.comm_base[ident] = self.next_comm
        self.next_comm += 4

    # ----------------------------------------------------------------- mutation
    def _changed(self) -> None:
        self.generation += 1

    def pick_existing(self, rng: random.Random, count: int, exclude: set[int]) -> list[int]:
        """Up to `count` distinct random existing ids not in `exclude`, in ascending order."""
        available = len(self.ids) - len(exclude)
        count = max(0, min(count, available))
        chosen: set[int] = set()
        ids = self.ids
        while len(chosen) < count:
            ident = ids[rng.randrange(len(ids))]
            if ident not in exclude:
                chosen.add(ident)
        return sorted(chosen)

    def update(self, idents: Iterable[int], now: int, rekey: bool = True) -> list[int]:
        """Edit activities: new content version, LAST_UPDATED = now, new communication IDs."""
        done = []
        for ident in idents:
            pos = self.position(ident)
            if pos is None:
                continue
            self.versions[ident] = self.versions.get(ident, 0) + 1
            if rekey:
                self._resave_communications(ident)
            self.updated[pos] = max(now, self.created[pos])
            self._cache.pop(ident, None)
            done.append(ident)
        self._changed()
        return done

    def rebind(self, idents: Iterable[int], rng: random.Random, now: int) -> list[int]:
        """Add or remove a secondary binding (the primary owner stays); LAST_UPDATED = now."""
        done = []
        for ident in idents:
            pos = self.position(ident)
            if pos is None:
                continue
            pairs = list(self.bindings(pos))
            if len(pairs) > 1 and (len(pairs) >= 4 or rng.random() < 0.4):
                pairs.pop(1 + rng.randrange(len(pairs) - 1))
            else:
                for _ in range(10):
                    pair = (rng.choice((2, 3, 4)), 1 + rng.randrange(self.owner_max))
                    if pair not in pairs and pair not in self.gone_entities:
                        pairs.append(pair)
                        break
            self.bindings_override[ident] = pairs
            self.updated[pos] = max(now, self.created[pos])
            self._cache.pop(ident, None)
            done.append(ident)
        self._changed()
        return done

    def insert(self, count: int, rng: random.Random, now: int) -> list[int]:
        """New activities above the highest id ever used; CREATED = LAST_UPDATED = now."""
        done = []
        for _ in range(count):
            ident = self.max_id_ever + 1 + rng.randrange(3)
            self.max_id_ever = ident
            w = rng.randrange(100)
            kind = next(i for i, limit in enumerate(KIND_CUMULATIVE) if w < limit)
            w = rng.randrange(100)
            otype = next(t for limit, t in OWNER_CUMULATIVE if w < limit)
            self.ids.append(ident)
            self.created.append(now)
            self.updated.append(now)
            self.start.append(_start_for(kind, now, rng.getrandbits(40)))
            self.owner_type.append(otype)
            self.owner_id.append(self._live_entity(otype, rng))
            self.kind.append(kind)
            self._resave_communications(ident)
            done.append(ident)
        self._changed()
        return done

    def delete(self, idents: Iterable[int]) -> list[int]:
        """Hard deletes: the rows disappear."""
        done = []
        for ident in idents:
            pos = self.position(ident)
            if pos is None:
                continue
            for column in (
                self.ids,
                self.created,
                self.updated,
                self.start,
                self.owner_type,
                self.owner_id,
                self.kind,
            ):
                del column[pos]
            self.versions.pop(ident, None)
            self.bindings_override.pop(ident, None)
            self.comm_base.pop(ident, None)
            self._cache.pop(ident, None)
            done.append(ident)
        self._changed()
        return done

    def merge(self, entity_type: int, from_id: int, into_id: int) -> list[int]:
        """Merge CRM entity (type, from_id) into (type, into_id), as EntityMerger does.

        CCrmActivity::Rebind moves every activity owner and binding with raw UPDATEs of
        b_crm_act.OWNER_ID and b_crm_act_bind (communications follow: they derive from the
        bindings here), LAST_UPDATED untouched; then the merged-away entity is deleted.
        Returns the IDs of the activities that moved.
        """
        if from_id == into_id:
            raise ValueError("from_id and into_id must differ")
        if not self.entity_exists(entity_type, from_id):
            raise ValueError(f"CRM entity {entity_type}:{from_id} does not exist")
        if not self.entity_exists(entity_type, into_id):
            raise ValueError(f"CRM entity {entity_type}:{into_id} does not exist")
        old, new = (entity_type, from_id), (entity_type, into_id)
        moved = []
        for pos, ident in enumerate(self.ids):
            pairs = self.bindings(pos)
            if old not in pairs:
                continue
            rebound: list[tuple[int, int]] = []
            for pair in pairs:
                pair = new if pair == old else pair
                if pair not in rebound:
                    rebound.append(pair)
            self.bindings_override[ident] = rebound
            if self.owner_type[pos] == entity_type and self.owner_id[pos] == from_id:
                self.owner_id[pos] = into_id
            self._cache.pop(ident, None)
            moved.append(ident)
        self.gone_entities.add(old)
        self._changed()
        return moved

    def drop_entity(self, entity_type: int, entity_id: int) -> tuple[list[int], list[int]]:
        """A CRM item was deleted: its activities go with it, like CCrmActivity::DeleteByOwner.

        An activity bound only to the item is deleted; others lose that binding (the next one
        becomes the primary owner), LAST_UPDATED untouched (raw binding rows, as in Rebind).
        Returns (deleted activity IDs, unbound activity IDs).
        """
        gone = (entity_type, entity_id)
        orphans: list[int] = []
        unbound: list[int] = []
        for pos, ident in enumerate(self.ids):
            pairs = self.bindings(pos)
            if gone not in pairs:
                continue
            rest = [p for p in pairs if p != gone]
            if not rest:
                orphans.append(ident)
                continue
            self.bindings_override[ident] = rest
            self.owner_type[pos], self.owner_id[pos] = rest[0]
            self._cache.pop(ident, None)
            unbound.append(ident)
        self.delete(orphans)
        self.gone_entities.add(gone)
        self._changed()
        return orphans, unbound

    def pick_merge(self, rng: random.Random) -> tuple[int, int, int]:
        """A random (type, from_id, into_id): the owner of a random activity into another."""
        pos = rng.randrange(len(self.ids))
        entity_type, from_id = self.owner_type[pos], self.owner_id[pos]
        while True:
            into_id = self._live_entity(entity_type, rng)
            if into_id != from_id:
                return entity_type, from_id, into_id

    # ----------------------------------------------------------------- raw access
    def column(self, field: str) -> array | None:
        """The stored column of a field, when it has one (START_TIME holds NULL as NULL_TS)."""
        return {
            "ID": self.ids,
            "CREATED": self.created,
            "LAST_UPDATED": self.updated,
            "START_TIME": self.start,
            "OWNER_ID": self.owner_id,
            "OWNER_TYPE_ID": self.owner_type,
        }.get(field)

    def getter(self, field: str) -> Callable[[int], Any]:
        """Pos -> the field's SQL value (int / str / epoch seconds / float / None)."""
        direct: dict[str, Callable[[int], Any]] = {
            "ID": self.ids.__getitem__,
            "OWNER_ID": self.owner_id.__getitem__,
            "OWNER_TYPE_ID": self.owner_type.__getitem__,
            "CREATED": self.created.__getitem__,
            "LAST_UPDATED": self.updated.__getitem__,
            "START_TIME": self.start_ts,
        }
        if field in direct:
            return direct[field]
        kind = self.kind
        record = self.record
        if field == "TYPE_ID":
            return lambda p: KIND_TYPE_ID[kind[p]]
        if field == "PROVIDER_ID":
            return lambda p: KIND_PROVIDER[kind[p]][0]
        if field == "PROVIDER_TYPE_ID":
            return lambda p: KIND_PROVIDER[kind[p]][1]
        if field == "END_TIME":
            return lambda p: record(p).end
        if field == "DEADLINE":
            return lambda p: record(p).deadline
        if field == "IS_INCOMING_CHANNEL":
            return lambda p: record(p).incoming
        compare = field_kinds().get(field)
        if compare == "int":
            return lambda p: _to_int(record(p).row.get(field))
        if compare == "double":
            return lambda p: _to_float(record(p).row.get(field))
        if compare == "object":
            return lambda p: _object_text(record(p).row.get(field))
        return lambda p: record(p).row.get(field)


def _to_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _to_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _object_text(value: Any) -> str:
    """SETTINGS-like columns compare as their stored text; empty ones as ''."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) if value else ""


def _start_for(kind: int, created: int, r: int) -> int:
    """START_TIME by kind: calls start before the record, meetings later, to-dos often NULL."""
    if kind == CALL:
        return created - r % 1800
    if kind == APP:
        return created + r % (10 * 86400)
    if kind == TODO:
        return NULL_TS if r % 10 < 6 else created + (r // 10) % (14 * 86400)
    if kind == MEETING:
        at = created + 86400 + r % (13 * 86400)
        return at - at % 1800
    return created
