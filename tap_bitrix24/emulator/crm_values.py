"""How each field of a CRM item gets its value: a maker per field kind, chosen once per type.

A row is derived by running its type's :func:`plan` in field order over one :class:`Draw`;
each maker draws exactly what it needs, so a value depends on (seed, type, id, version) and the
fields before it. Adding a draw anywhere changes every later value of the row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .content import Draw
from .crm_schema import Field, ItemType, abbreviation

if TYPE_CHECKING:
    from .crm_items import TypeStore

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


# A value maker per field kind: (store, field, draw, id, created, updated, row so far, fm).
# Each draws exactly what the row's earlier form drew, in the same order (same bytes served).
Maker = Callable[
    ["TypeStore", Field, Draw, int, int, int, "dict[str, Any]", "list[dict[str, Any]] | None"], Any
]


def _link(s: TypeStore, d: Draw, target: int, percent: int = 70) -> int | None:
    size = s.sizes.get(target, 0)
    if size <= 0 or not d.chance(percent):
        return None
    return 1 + d.n(size)


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
    return lambda s, f, d, i, c, u, row, fm: _link(s, d, target, percent)


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


def fm_values(entity_type_id: int, ident: int, d: Draw) -> list[dict[str, Any]]:
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
