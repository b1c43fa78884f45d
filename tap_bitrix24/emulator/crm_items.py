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
from collections.abc import Callable, Iterable
from typing import Any

from .content import M64, YEAR, Draw, mix
from .crm_schema import FM_TYPES, SMART_INVOICE, Field, ItemType, abbreviation
from .dates import PortalClock

DAY = 86400
FIRST_NAMES = ("Анна", "John", "Zoë", "Łukasz", "Mária", "محمد", "Ivan", "O'Brien", "李", "Émile")
LAST_NAMES = ("Иванова", "Smith", "Müller", "Nowak", "Kovács", "الهاشمي", "Petrov", 'D"Arcy')
WORDS = ("Alpha", "Бета", "Gamma", "Δέλτα", "Epsilon 🚀", "Zeta & Co", "Eta <b>", "Théta\\n")
SOURCES = ("CALL", "EMAIL", "WEB", "ADVERTISING", "PARTNER", "RECOMMENDATION", "TRADE_SHOW")
CURRENCIES = ("RUB", "USD", "EUR")
STATUS_CHOICES = {
    "deal_type": ("SALE", "COMPLEX", "GOODS", "SERVICES", "SERVICE"),
    "contact_type": ("CLIENT", "SUPPLIER", "PARTNER", "OTHER"),
    "company_type": ("CUSTOMER", "SUPPLIER", "COMPETITOR", "PARTNER", "OTHER"),
    "industry": ("IT", "TELECOM", "MANUFACTURING", "BANKING", "CONSULTING", "OTHER"),
    "employees": ("EMPLOYEES_1", "EMPLOYEES_2", "EMPLOYEES_3", "EMPLOYEES_4"),
    "honorific": ("HNR_EN_1", "HNR_EN_2", "HNR_EN_3"),
}
FM_VALUE_TYPES = {
    "PHONE": ("WORK", "MOBILE", "HOME"),
    "EMAIL": ("WORK", "HOME"),
    "WEB": ("WORK", "OTHER"),
    "IM": ("TELEGRAM", "SKYPE", "OPENLINE"),
}
USERS = 12  # user IDs 1..12
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
        self.itype = itype
        self.seed = seed
        self.anchor = anchor
        self.sizes = sizes  # initial counts of every type: targets of links
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
        fm = _fm(t, ident, Draw(self.seed, t, ident, 13 + version)) if t in FM_TYPES else None
        raw: dict[str, Any] = {}
        for name, make, f in self._plan:
            raw[name] = make(self, f, d, ident, created, updated, raw, fm)
        return Record(raw, fm)

    def _link(self, d: Draw, target: int, percent: int = 70) -> int | None:
        size = self.sizes.get(target, 0)
        if size <= 0 or not d.chance(percent):
            return None
        return 1 + d.n(size)

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


# A value maker per field kind: (store, field, draw, id, created, updated, row so far, fm).
# Each draws exactly what the row's earlier form drew, in the same order (same bytes served).
Maker = Callable[
    [TypeStore, Field, Draw, int, int, int, dict[str, Any], "list[dict[str, Any]] | None"], Any
]


def _stages_of(it: ItemType, row: dict[str, Any]) -> tuple[str, ...]:
    return it.stages(row.get("categoryId") or it.categories[0])


def _semantic(s: TypeStore, f: Field, d: Draw, i: int, c: int, u: int, row: Any, fm: Any) -> Any:
    stage = str(row.get("stageId", ""))
    stages = _stages_of(s.itype, row)
    index = stages.index(stage) if stage in stages else 0
    return "F" if index == len(stages) - 1 else "S" if index == len(stages) - 2 else "P"


def _closed(s: TypeStore, f: Field, d: Draw, i: int, c: int, u: int, row: Any, fm: Any) -> Any:
    stage = str(row.get("stageId", ""))
    return "Y" if stage in _stages_of(s.itype, row)[-2:] else "N"


def _previous_stage(
    s: TypeStore, f: Field, d: Draw, i: int, c: int, u: int, row: Any, fm: Any
) -> Any:
    stages = _stages_of(s.itype, row)
    return d.pick(stages) if d.chance(50) else ""


def _dates(kind: str) -> Maker:
    def make(s: TypeStore, f: Field, d: Draw, i: int, c: int, u: int, row: Any, fm: Any) -> Any:
        if kind == "birthdate" and d.chance(50):
            return None
        base = c // DAY
        offset = d.n(30) if kind == "begin" else 7 + d.n(120)
        if kind == "birthdate":
            return (base - 365 * 20 - d.n(365 * 40)) * DAY
        return (base + offset) * DAY

    return make


def _status(kind: str) -> Maker:
    choices = STATUS_CHOICES[kind]
    return lambda s, f, d, i, c, u, row, fm: d.pick(choices) if d.chance(85) else None


def _linker(target: int, percent: int = 70) -> Maker:
    return lambda s, f, d, i, c, u, row, fm: s._link(d, target, percent)


def _many(kind: str) -> Maker:
    target = 3 if kind == "contacts" else 4
    mirror = "contactId" if kind == "contacts" else "companyId"

    def make(s: TypeStore, f: Field, d: Draw, i: int, c: int, u: int, row: Any, fm: Any) -> Any:
        size = s.sizes.get(target, 0)
        first = row.get(mirror)
        if mirror in row and not first:
            return []  # the deprecated single field mirrors the first of the list
        values = [first] if first else []
        for _ in range(d.n(3) if size else 0):
            value = 1 + d.n(size)
            if value not in values:
                values.append(value)
        return values

    return make


def _has_fm(type_id: str) -> Maker:
    return lambda s, f, d, i, c, u, row, fm: (
        "Y" if fm and any(x["typeId"] == type_id for x in fm) else "N"
    )


MAKERS: dict[str, Maker] = {
    "id": lambda s, f, d, i, c, u, row, fm: i,
    "title": lambda s, f, d, i, c, u, row, fm: f"{s.itype.title} #{i} {d.pick(WORDS)}",
    "user": lambda s, f, d, i, c, u, row, fm: 1 + d.n(USERS),
    "creator": lambda s, f, d, i, c, u, row, fm: 1 + d.n(USERS),
    "users": lambda s, f, d, i, c, u, row, fm: sorted({1 + d.n(USERS) for _ in range(d.n(3))}),
    "created": lambda s, f, d, i, c, u, row, fm: c,
    "updated": lambda s, f, d, i, c, u, row, fm: u,
    "moved": lambda s, f, d, i, c, u, row, fm: c + d.n(max(1, u - c + 1)),
    "last_activity": lambda s, f, d, i, c, u, row, fm: c + d.n(max(1, u - c + 1)),
    "closed_time": lambda s, f, d, i, c, u, row, fm: u if d.chance(30) else None,
    "flag": lambda s, f, d, i, c, u, row, fm: "Y" if d.chance(40) else "N",
    "rare_flag": lambda s, f, d, i, c, u, row, fm: "Y" if d.chance(3) else "N",
    "category": lambda s, f, d, i, c, u, row, fm: d.pick(s.itype.categories),
    "stage": lambda s, f, d, i, c, u, row, fm: d.pick(_stages_of(s.itype, row)),
    "previous_stage": _previous_stage,
    "semantic": _semantic,
    "closed": _closed,
    "currency": lambda s, f, d, i, c, u, row, fm: d.pick(CURRENCIES),
    "amount": lambda s, f, d, i, c, u, row, fm: 0.0 if d.chance(10) else d.n(10_000_000) / 100,
    "tax": lambda s, f, d, i, c, u, row, fm: 0.0 if d.chance(60) else d.n(200_000) / 100,
    "probability": lambda s, f, d, i, c, u, row, fm: None if d.chance(30) else d.n(101),
    "begin": _dates("begin"),
    "close": _dates("close"),
    "birthdate": _dates("birthdate"),
    "source": lambda s, f, d, i, c, u, row, fm: d.pick(SOURCES) if d.chance(80) else None,
    **{kind: _status(kind) for kind in STATUS_CHOICES},
    "text": lambda s, f, d, i, c, u, row, fm: (
        f"{d.pick(WORDS)}\r\n{d.pick(WORDS)}" if d.chance(50) else ""
    ),
    "company": _linker(4),
    "contact": _linker(3),
    "lead": _linker(1, 30),
    "deal": _linker(2, 50),
    "quote": _linker(7, 10),
    "contacts": _many("contacts"),
    "companies": _many("companies"),
    "first_name": lambda s, f, d, i, c, u, row, fm: d.pick(FIRST_NAMES),
    "second_name": lambda s, f, d, i, c, u, row, fm: "" if d.chance(70) else d.pick(FIRST_NAMES),
    "last_name": lambda s, f, d, i, c, u, row, fm: d.pick(LAST_NAMES),
    "post": lambda s, f, d, i, c, u, row, fm: (
        d.pick(("CEO", "Менеджер", "CTO", "")) if d.chance(70) else None
    ),
    "company_title": lambda s, f, d, i, c, u, row, fm: (
        f"{d.pick(WORDS)} LLC" if d.chance(60) else None
    ),
    "has_phone": _has_fm("PHONE"),
    "has_email": _has_fm("EMAIL"),
    "number": lambda s, f, d, i, c, u, row, fm: f"{s.itype.entity_type_id}-{i:06d}",
    "xml_id": lambda s, f, d, i, c, u, row, fm: f"ext-{i}" if d.chance(20) else "",
}


def plan(itype: ItemType) -> list[tuple[str, Maker, Field]]:
    """Per field of a type, in order: (name, value maker, field); user fields use their own."""
    out = []
    for f in itype.fields:
        make = None if f.dynamic else MAKERS.get(f.kind)
        out.append((f.name, make or user_maker(f), f))
    return out


def _fm(entity_type_id: int, ident: int, d: Draw) -> list[dict[str, Any]]:
    """Phones, e-mails, web sites and messengers of a lead/contact/company."""
    out: list[dict[str, Any]] = []
    base = (entity_type_id * 10_000_000 + ident) * 8
    k = 0
    for type_id, value_types in FM_VALUE_TYPES.items():
        for _ in range(d.n(3) if type_id in ("PHONE", "EMAIL") else d.n(2)):
            if type_id == "PHONE":
                value = f"+7 9{d.n(100):02d} {d.n(1000):03d}-{d.n(100):02d}-{d.n(100):02d}"
            elif type_id == "EMAIL":
                value = f"user{ident}.{k}@example.com"
            elif type_id == "WEB":
                value = f"https://example.org/{ident}?a=1&b=2"
            else:
                value = f"imol|{ident}{k}"
            out.append(
                {
                    "id": base + k,
                    "valueType": d.pick(value_types),
                    "value": value,
                    "typeId": type_id,
                }
            )
            k += 1
    return out


def _binding(d: Draw, sizes: dict[int, int], types: tuple[int, ...]) -> str | None:
    target = d.pick(types)
    size = sizes.get(target, 0)
    if size <= 0:
        return None
    return f"{abbreviation(target)}_{1 + d.n(size)}"


def _money(f: Field, d: Draw, sizes: dict[int, int], ident: int, created: int) -> Any:
    amount = d.n(1_000_000) / 100
    text = f"{amount:.2f}".rstrip("0").rstrip(".")
    return f"{text}|{d.pick(CURRENCIES)}"


def _crm_deal(f: Field, d: Draw, sizes: dict[int, int], ident: int, created: int) -> Any:
    size = sizes.get(2, 0)
    return str(1 + d.n(size)) if size else None


def _crms(f: Field, d: Draw, sizes: dict[int, int], count: int) -> list[Any]:
    values = [_binding(d, sizes, (2, 4, 128)) for _ in range(count)]
    return [v for v in dict.fromkeys(values) if v]


UserSingle = Callable[[Field, Draw, "dict[int, int]", int, int], Any]
UserMultiple = Callable[[Field, Draw, "dict[int, int]", int], "list[Any]"]

# Single user fields, after the 25% NULL draw: (field, draw, sizes, id, created).
USER_SINGLE: dict[str, UserSingle] = {
    "uf_string": lambda f, d, sizes, i, c: f'{d.pick(WORDS)} "{i}"',
    "uf_integer": lambda f, d, sizes, i, c: d.n(500) - 50,
    "uf_double": lambda f, d, sizes, i, c: d.n(10_000) / 100,
    "uf_date": lambda f, d, sizes, i, c: (c // DAY + d.n(200)) * DAY,
    "uf_datetime": lambda f, d, sizes, i, c: c + d.n(90 * DAY),
    "uf_money": _money,
    "uf_url": lambda f, d, sizes, i, c: f"https://example.com/landing/{i}?utm_source=b24&x=\u00e9",
    "uf_address": lambda f, d, sizes, i, c: (
        f"ул. Тверская, {1 + d.n(40)}, Москва|55.{d.n(999):03d};37.{d.n(999):03d}|{i}"
    ),
    "uf_enum": lambda f, d, sizes, i, c: d.pick(f.items)[0],
    # A file ID; URLs are added when printed.
    "uf_file": lambda f, d, sizes, i, c: 100_000 + i * 4 + d.n(4),
    "uf_employee": lambda f, d, sizes, i, c: 1 + d.n(USERS),
    "uf_crm": lambda f, d, sizes, i, c: _binding(d, sizes, (1, 2, 3, 4, 128)),
    "uf_crm_deal": _crm_deal,
    "uf_crm_status": lambda f, d, sizes, i, c: d.pick(SOURCES),
}
# Multiple user fields, after the count draw: (field, draw, sizes, count).
USER_MULTIPLE: dict[str, UserMultiple] = {
    "uf_strings": lambda f, d, sizes, count: [f"{d.pick(WORDS)} {i}" for i in range(count)],
    "uf_enums": lambda f, d, sizes, count: sorted({d.pick(f.items)[0] for _ in range(count)}),
    "uf_employees": lambda f, d, sizes, count: sorted({1 + d.n(USERS) for _ in range(count)}),
    "uf_crms": _crms,
}


def _app_defined(f: Field, d: Draw, sizes: dict[int, int], ident: int, created: int) -> Any:
    return f"{'★' * (1 + d.n(5))}"  # an application-defined type: its own string


def _no_values(f: Field, d: Draw, sizes: dict[int, int], count: int) -> list[Any]:
    return []


def user_maker(f: Field) -> Maker:
    """The value maker of a user field (crm.item form: null when empty, arrays when multiple)."""
    if f.multiple:
        many = USER_MULTIPLE.get(f.kind, _no_values)

        def multiple(
            s: TypeStore, f: Field, d: Draw, i: int, c: int, u: int, row: Any, fm: Any
        ) -> Any:
            return many(f, d, s.sizes, 0 if d.chance(35) else 1 + d.n(3))

        return multiple
    if f.kind == "uf_boolean":
        return lambda s, f, d, i, c, u, row, fm: "Y" if d.chance(30) else "N"
    single = USER_SINGLE.get(f.kind, _app_defined)

    def one(s: TypeStore, f: Field, d: Draw, i: int, c: int, u: int, row: Any, fm: Any) -> Any:
        return None if d.chance(25) else single(f, d, s.sizes, i, c)

    return one


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
