"""Small dictionaries behind the CRM's IDs, read whole every run (full table replication).

``statuses`` (``crm.status.list``: every ENTITY_ID in one unpaged call), ``pipelines``
(``crm.category.list`` of every type but leads and quotes, one batch),
``currencies`` (``crm.currency.list``), ``field_options`` (the options of every enumeration
field, from the ``crm.item.fields`` and ``crm.activity.fields`` the tap reads at discovery: no
request of its own, unless ``field_options_language`` asks for the field labels in a
language), ``users`` (``user.get``, active and dismissed: ``TIMESTAMP_X`` comes back as ``{}``,
so there is no change stamp) and ``departments`` (``department.get``).

Each stream is one :class:`Dictionary`: its name, key, columns and the function that reads its
rows. ``users`` and ``departments`` need the webhook's ``user`` and ``department`` scopes: a
webhook without one gets one warning naming the scope and the stream is skipped, not the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_bitrix24.client.batch import MAX_COMMANDS, BatchCall
from tap_bitrix24.client.errors import Bitrix24Error
from tap_bitrix24.streams.base import Bitrix24Stream

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_bitrix24.tap import TapBitrix24

ACTIVITY_TYPE = 6  # CCrmOwnerType::Activity
DEALS = 2
SMART_INVOICES = 31
#: Types whose user fields have a ``crm.<entity>.userfield.list`` (labels per ``LANG``).
USERFIELD_LISTS = {
    1: "crm.lead.userfield.list",
    2: "crm.deal.userfield.list",
    3: "crm.contact.userfield.list",
    4: "crm.company.userfield.list",
    7: "crm.quote.userfield.list",
}
WITHOUT_CATEGORIES = frozenset({1, 7})  # leads, quotes (contacts/companies have them)
SCOPE_ERRORS = frozenset({"insufficient_scope", "INSUFFICIENT_SCOPE"})

Reader = Callable[["DictionaryStream"], Iterable[dict[str, Any]]]
Column = tuple[str, str]  # name, kind: int, str, bool, float, json, ints (list of int)

_TYPES: dict[str, dict[str, Any]] = {
    "int": {"type": ["integer", "null"]},
    "str": {"type": ["string", "null"]},
    "bool": {"type": ["boolean", "null"]},
    "float": {"type": ["number", "null"]},
    "ints": {"type": ["array", "null"], "items": {"type": "integer"}},
    "json": {"type": ["object", "null"]},
}


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _bool(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value.upper() not in ("N", "0", "FALSE")
    return bool(value)


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None  # e.g. user.get's TIMESTAMP_X: {} (an unconverted object)
    return str(value)


def _ints(value: Any) -> list[int] | None:
    if value is None or value is False:
        return None
    values = value if isinstance(value, list) else [value]
    return [n for n in (_int(v) for v in values) if n is not None]


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "int": _int,
    "str": _str,
    "bool": _bool,
    "float": _float,
    "ints": _ints,
    "json": lambda v: v if isinstance(v, dict) else None,
}


@dataclass(frozen=True)
class Dictionary:
    """One dictionary stream: what it is called, its key and columns, and how it is read."""

    name: str
    keys: tuple[str, ...]
    columns: tuple[Column, ...]
    read: Reader
    description: str
    scope: str | None = None  # the webhook scope the stream's method needs

    def schema(self) -> dict[str, Any]:
        """The stream's JSON schema."""
        return {
            "type": "object",
            "description": self.description,
            "properties": {name: dict(_TYPES[kind]) for name, kind in self.columns},
        }

    def record(self, row: dict[str, Any]) -> dict[str, Any]:
        """One typed record from a raw row."""
        return {name: _CONVERT[kind](row.get(name)) for name, kind in self.columns}


class DictionaryStream(Bitrix24Stream):
    """A dictionary read whole on every run, through the SDK request path."""

    replication_key = None
    selected_by_default = False
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE  # records are typed here

    def __init__(self, tap: TapBitrix24, spec: Dictionary) -> None:
        self.name = spec.name
        self.spec = spec
        self.primary_keys = spec.keys
        super().__init__(tap, spec.schema(), path=spec.name)

    @property
    def tap(self) -> TapBitrix24:
        """The tap (its discovery caches: item types and their fields)."""
        return self._bitrix_tap

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, Any]]:
        """Every row of the dictionary; a missing webhook scope skips the stream."""
        try:
            rows = list(self.spec.read(self))
        except Bitrix24Error as exc:
            if exc.code == "ERROR_METHOD_NOT_FOUND":
                self.logger.warning(
                    "Stream '%s' skipped: this portal does not offer its method (%s)",
                    self.name,
                    exc.description[:100] or exc.code,
                )
                return
            if exc.code not in SCOPE_ERRORS or self.spec.scope is None:
                raise
            self.logger.warning(
                "Stream '%s' skipped: the webhook lacks the '%s' scope; add it to the webhook "
                "(or app) to extract %s",
                self.name,
                self.spec.scope,
                self.name,
            )
            return
        for row in rows:
            yield self.spec.record(row)

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """One method call through the SDK request path."""
        return self.send_json(method, params or {}, None)

    def pages(self, method: str, params: dict[str, Any] | None = None) -> Iterator[Any]:
        """The ``result`` of every page of a ``start``-paged list."""
        start: int | None = 0
        while start is not None:
            body = self.call(method, {**(params or {}), "start": start})
            yield body.get("result")
            start = _int(body.get("next"))


def _rows(result: Any, key: str | None = None) -> list[dict[str, Any]]:
    if key is not None:
        result = result.get(key) if isinstance(result, dict) else None
    return [r for r in result or [] if isinstance(r, dict)]


def read_statuses(stream: DictionaryStream) -> Iterator[dict[str, Any]]:
    """``crm.status.list``: not paginated, every ENTITY_ID at once."""
    yield from _rows(stream.call("crm.status.list", {"order": {"ID": "ASC"}}).get("result"))


def _category_types(stream: DictionaryStream) -> list[int]:
    """Deals, contacts, companies, smart invoices and every smart process the portal has."""
    types = {item_type.entity_type_id for item_type, _ in stream.tap.item_types.values()}
    return sorted(t for t in types if t not in WITHOUT_CATEGORIES)


def read_pipelines(stream: DictionaryStream) -> Iterator[dict[str, Any]]:
    """``crm.category.list`` of every type with categories, 50 types a batch.

    A type whose categories are switched off answers with an error; it has no pipelines.
    """
    types = _category_types(stream)
    for first in range(0, len(types), MAX_COMMANDS):
        part = types[first : first + MAX_COMMANDS]
        call = BatchCall({f"t{t}": ("crm.category.list", {"entityTypeId": t}) for t in part})
        result = stream.send_batch(call, None, keep=frozenset({"ACCESS_DENIED", "NOT_FOUND", ""}))
        for entity_type in part:
            name = f"t{entity_type}"
            rows = _rows(result.result.get(name), "categories")
            more = _int(result.next.get(name))
            while more is not None:  # more than 50 pipelines of one type
                body = stream.call(
                    "crm.category.list", {"entityTypeId": entity_type, "start": more}
                )
                rows += _rows(body.get("result"), "categories")
                more = _int(body.get("next"))
            for row in rows:
                yield {**row, "entityTypeId": entity_type}


def read_currencies(stream: DictionaryStream) -> Iterator[dict[str, Any]]:
    """``crm.currency.list`` (current rates only; the portal keeps no history)."""
    yield from _rows(stream.call("crm.currency.list").get("result"))


def _options(
    entity_type: int,
    stream_name: str,
    fields: dict[str, dict[str, Any]],
    labels: dict[str, str],
) -> Iterator[dict[str, Any]]:
    for field, spec in sorted(fields.items()):
        items = spec.get("items") if isinstance(spec, dict) else None
        if spec.get("type") != "enumeration" or not isinstance(items, list):
            continue
        label = labels.get(str(spec.get("upperName"))) or spec.get("listLabel")
        for position, item in enumerate(items):
            if isinstance(item, dict):
                yield {
                    "entityTypeId": entity_type,
                    "stream": stream_name,
                    "field": field,
                    "fieldLabel": label or spec.get("formLabel") or spec.get("title"),
                    "id": item.get("ID"),
                    "label": item.get("VALUE"),
                    "sort": item.get("SORT", (position + 1) * 10),
                }


def field_labels(stream: DictionaryStream, language: str) -> dict[int, dict[str, str]]:
    """UF labels in ``language`` of the types with ``crm.<entity>.userfield.list``, one batch.

    Labels come only in the language the ``LANG`` filter names (crm API doc §3); smart processes
    and invoices have no such method, so their labels stay as crm.item.fields gives them.
    """
    types = {t.entity_type_id for t, _ in stream.tap.item_types.values()} & set(USERFIELD_LISTS)
    if not language or not types:
        return {}
    call = BatchCall(
        {f"t{t}": (USERFIELD_LISTS[t], {"filter": {"LANG": language}}) for t in sorted(types)}
    )
    result = stream.send_batch(call, None, keep=frozenset({"ACCESS_DENIED", "NOT_FOUND", ""}))
    out: dict[int, dict[str, str]] = {}
    for entity_type in sorted(types):
        rows = _rows(result.result.get(f"t{entity_type}"))
        out[entity_type] = {
            str(r.get("FIELD_NAME")): str(label)
            for r in rows
            if (label := r.get("LIST_COLUMN_LABEL") or r.get("EDIT_FORM_LABEL"))
        }
    return out


def read_field_options(stream: DictionaryStream) -> Iterator[dict[str, Any]]:
    """Options of every enumeration field, from the fields read at discovery.

    With ``field_options_language`` set, the field labels of the fixed types come from their
    userfield lists in that language (one request); otherwise no request at all.
    """
    labels = field_labels(stream, stream.tap.settings.field_options_language)
    for name, (item_type, fields) in stream.tap.item_types.items():
        entity_type = item_type.entity_type_id
        yield from _options(entity_type, name, fields, labels.get(entity_type, {}))
    yield from _options(ACTIVITY_TYPE, "activities", stream.tap.activity_fields, {})


def read_users(stream: DictionaryStream) -> Iterator[dict[str, Any]]:
    """``user.get``: active and dismissed users (ACTIVE is not filtered by default)."""
    for page in stream.pages("user.get", {"sort": "ID", "order": "ASC", "ADMIN_MODE": True}):
        yield from _rows(page)


def read_departments(stream: DictionaryStream) -> Iterator[dict[str, Any]]:
    """``department.get``, 50 a page."""
    for page in stream.pages("department.get", {"sort": "ID", "order": "ASC"}):
        yield from _rows(page)


DICTIONARIES = (
    Dictionary(
        "statuses",
        ("ID",),
        (
            ("ID", "int"),
            ("ENTITY_ID", "str"),
            ("STATUS_ID", "str"),
            ("NAME", "str"),
            ("NAME_INIT", "str"),
            ("SORT", "int"),
            ("SYSTEM", "str"),
            ("CATEGORY_ID", "int"),
            ("COLOR", "str"),
            ("SEMANTICS", "str"),
            ("EXTRA", "json"),
        ),
        read_statuses,
        "Stages, lead statuses and other CRM dictionaries of every ENTITY_ID (crm.status.list)",
    ),
    Dictionary(
        "pipelines",
        ("entityTypeId", "id"),
        (
            ("entityTypeId", "int"),
            ("id", "int"),
            ("name", "str"),
            ("sort", "int"),
            ("isDefault", "bool"),
            ("originId", "str"),
            ("originatorId", "str"),
        ),
        read_pipelines,
        "Pipelines (categories) of deals, contacts, companies, smart invoices and smart processes "
        "(crm.category.list); deals' pipeline 0 included",
    ),
    Dictionary(
        "currencies",
        ("CURRENCY",),
        (
            ("CURRENCY", "str"),
            ("AMOUNT_CNT", "int"),
            ("AMOUNT", "float"),
            ("SORT", "int"),
            ("BASE", "str"),
            ("FULL_NAME", "str"),
            ("LID", "str"),
            ("FORMAT_STRING", "str"),
            ("DEC_POINT", "str"),
            ("THOUSANDS_SEP", "str"),
            ("DECIMALS", "int"),
            ("DATE_UPDATE", "str"),
        ),
        read_currencies,
        "Currencies with their current rate (crm.currency.list; no rate history)",
    ),
    Dictionary(
        "field_options",
        ("entityTypeId", "field", "id"),
        (
            ("entityTypeId", "int"),
            ("stream", "str"),
            ("field", "str"),
            ("fieldLabel", "str"),
            ("id", "int"),
            ("label", "str"),
            ("sort", "int"),
        ),
        read_field_options,
        "Options of enumeration fields of every item type and of activities "
        "(crm.item.fields / crm.activity.fields items), with the field's label "
        "(field_options_language)",
    ),
    Dictionary(
        "users",
        ("ID",),
        (
            ("ID", "int"),
            ("ACTIVE", "bool"),
            ("NAME", "str"),
            ("LAST_NAME", "str"),
            ("SECOND_NAME", "str"),
            ("EMAIL", "str"),
            ("WORK_POSITION", "str"),
            ("USER_TYPE", "str"),
            ("UF_DEPARTMENT", "ints"),
            ("DATE_REGISTER", "str"),
            ("LAST_LOGIN", "str"),
        ),
        read_users,
        "Users, active and dismissed, with their departments (user.get; full refresh: "
        "TIMESTAMP_X comes back empty)",
        scope="user",
    ),
    Dictionary(
        "departments",
        ("ID",),
        (("ID", "int"), ("NAME", "str"), ("SORT", "int"), ("PARENT", "int"), ("UF_HEAD", "int")),
        read_departments,
        "Departments (department.get)",
        scope="department",
    ),
)

DICTIONARY_NAMES = frozenset(d.name for d in DICTIONARIES)
