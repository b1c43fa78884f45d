"""From ``crm.item.fields`` to a JSON schema, and from ``crm.item.list`` rows to typed records.

crm.item.list answers in JSON-native types (integer IDs, float amounts) with a few Bitrix24
forms left to undo: ``Y``/``N`` booleans, date fields as the midnight instant printed in the
portal's zone (its UTC date is the date: the local one is a day early west of UTC), money user
fields as ``"12.5|USD"``, ``false`` for an empty multiple value, and file URLs that carry the
caller's credential. Columns keep crm.item.list's camelCase names; each column's title is the
field's label and its description names the field's ``upperName``.

``fm`` (phones, e-mails, web sites, messengers of leads, contacts and companies) becomes one
array column per kind (``fm_phone``, ``fm_email``, ``fm_web``, ``fm_im``); the ``fm_`` prefix
keeps them apart from the single-value ``phone``/``email`` convenience fields a portal may list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tap_bitrix24.client.redact import strip_auth_param
from tap_bitrix24.streams.schema import (
    SchemaRecords,
    put_datetimes,
    put_ints,
    to_datetime,
    to_decimal,
    to_int,
    to_string,
)

INTEGER_TYPES = frozenset(
    {
        "integer",
        "user",
        "employee",
        "enumeration",
        "crm_category",
        "crm_company",
        "crm_contact",
        "crm_lead",
        "crm_deal",
        "crm_quote",
        "crm_entity",
    }
)
#: Text as it comes (``crm`` user fields are links such as ``D_12``: strings).
STRING_TYPES = frozenset(
    {"string", "text", "char", "url", "address", "crm", "crm_status", "crm_currency", "location"}
)
OTHER_TYPES = frozenset({"double", "boolean", "datetime", "date", "money", "file"})
#: Multi-field kinds (``fm`` ``typeId``) and their columns.
FM_COLUMNS = {"PHONE": "fm_phone", "EMAIL": "fm_email", "WEB": "fm_web", "IM": "fm_im"}
#: Item types that have multi-fields.
FM_TYPES = frozenset({1, 3, 4})

_MONEY = {
    "type": ["object", "null"],
    "properties": {
        "amount": {"type": ["number", "null"]},
        "currency": {"type": ["string", "null"]},
    },
}
_FILE = {
    "type": ["object", "null"],
    "properties": {
        "id": {"type": ["integer", "null"]},
        "url": {"type": ["string", "null"]},
        "urlMachine": {"type": ["string", "null"]},
    },
}
_FM_ITEM = {
    "type": "object",
    "properties": {
        "id": {"type": ["integer", "null"]},
        "valueType": {"type": ["string", "null"]},
        "value": {"type": ["string", "null"]},
    },
}


def _value_schema(bitrix_type: str) -> dict[str, Any]:
    """The schema of one (single) value of a Bitrix24 type (unknown types: strings)."""
    if bitrix_type in INTEGER_TYPES:
        return {"type": ["integer", "null"]}
    if bitrix_type == "double":
        return {"type": ["number", "null"]}
    if bitrix_type == "boolean":
        return {"type": ["boolean", "null"]}
    if bitrix_type == "datetime":
        return {"type": ["string", "null"], "format": "date-time"}
    if bitrix_type == "date":
        return {"type": ["string", "null"], "format": "date"}
    if bitrix_type == "money":
        return dict(_MONEY)
    if bitrix_type == "file":
        return dict(_FILE)
    return {"type": ["string", "null"]}


def unknown_types(fields: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Field -> type for the fields whose type the tap does not know (extracted as strings)."""
    known = INTEGER_TYPES | STRING_TYPES | OTHER_TYPES
    return {
        name: str(info.get("type", ""))
        for name, info in fields.items()
        if isinstance(info, Mapping) and str(info.get("type", "")) not in known
    }


def label_of(info: Mapping[str, Any]) -> str:
    """A user field's label (its ``title`` is the UPPER code), else the field's title."""
    for key in ("listLabel", "formLabel", "title"):
        value = info.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def item_schema(
    fields: Mapping[str, Mapping[str, Any]], entity_type_id: int, description: str
) -> dict[str, Any]:
    """The stream schema: one property per non-deprecated field, plus the ``fm`` columns."""
    properties: dict[str, Any] = {}
    for name, info in fields.items():
        if not isinstance(info, Mapping) or info.get("isDeprecated"):
            continue
        value = _value_schema(str(info.get("type", "")))
        multiple = bool(info.get("isMultiple"))
        prop = {"type": ["array", "null"], "items": value} if multiple else value
        if name == "id":
            prop = {"type": ["integer"]}
        label = label_of(info)
        if label:
            prop["title"] = label
        upper = info.get("upperName")
        if upper:
            prop["description"] = f"{label} ({upper})" if label else str(upper)
        properties[name] = prop
    if entity_type_id in FM_TYPES:
        for kind, column in FM_COLUMNS.items():
            properties[column] = {
                "type": ["array", "null"],
                "items": _FM_ITEM,
                "title": kind.title(),
                "description": f"Multi-field {kind} (fm): every value with its type",
            }
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": ["id"],
    }


# -- value converters -------------------------------------------------------------------------


def to_flag(value: Any) -> bool | None:
    """``Y``/``N`` (and the ``1``/``0`` some user fields use) -> True/False."""
    if isinstance(value, bool):
        return value
    if value in ("Y", "1", 1):
        return True
    if value in ("N", "0", 0, ""):
        return False
    return None


def to_utc_date(value: Any) -> str | None:
    """A date field's midnight instant -> its UTC date (``2000-01-01``).

    Bitrix24 prints ``MakeTimeStamp(date) + date('Z')`` in the portal's zone: UTC midnight of
    the date, shown as the evening before on a portal west of UTC. An instant out of range in
    UTC keeps its own date.
    """
    instant = to_datetime(value)
    return instant[:10] if instant is not None else None


def to_money(value: Any) -> dict[str, Any] | None:
    """``"12.5|USD"`` -> ``{"amount": 12.5, "currency": "USD"}``; ``""`` -> None."""
    if not value or not isinstance(value, str):
        return None
    amount, _, currency = value.partition("|")
    return {"amount": to_decimal(amount), "currency": currency or None}


def to_file(value: Any) -> dict[str, Any] | None:
    """A file as ``{id, url, urlMachine}`` with the caller's credential removed from each URL."""
    if isinstance(value, dict):
        out: dict[str, Any] = {"id": to_int(value.get("id"))}
        for key in ("url", "urlMachine"):
            url = value.get(key)
            out[key] = strip_auth_param(url) if isinstance(url, str) else None
        return out
    ident = to_int(value)
    return {"id": ident, "url": None, "urlMachine": None} if ident is not None else None


def _single(bitrix_type: str) -> Callable[[Any], Any]:
    if bitrix_type in INTEGER_TYPES:
        return to_int
    if bitrix_type == "double":
        return to_decimal
    if bitrix_type == "boolean":
        return to_flag
    if bitrix_type == "datetime":
        return to_datetime
    if bitrix_type == "date":
        return to_utc_date
    if bitrix_type == "money":
        return to_money
    if bitrix_type == "file":
        return to_file
    return to_string


def _many(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def many(value: Any) -> list[Any]:
        if not isinstance(value, list):
            if value is None or value is False or value == "":
                return []  # Bitrix24 sends false for an empty multiple value
            value = [value]
        return [convert(v) for v in value]

    return many


def fm_columns(value: Any) -> dict[str, list[dict[str, Any]]]:
    """``fm`` split by kind into the ``fm_*`` columns."""
    out: dict[str, list[dict[str, Any]]] = {column: [] for column in FM_COLUMNS.values()}
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict):
            continue
        column = FM_COLUMNS.get(str(item.get("typeId", "")).upper())
        if column is not None:
            out[column].append(
                {
                    "id": to_int(item.get("id")),
                    "valueType": to_string(item.get("valueType")),
                    "value": to_string(item.get("value")),
                }
            )
    return out


class ItemConverter(SchemaRecords):
    """Raw crm.item.list rows -> records of one schema (every property present).

    Single text and integer fields (most of a row) are handled inline, without a call per value.
    """

    def __init__(self, fields: Mapping[str, Mapping[str, Any]], schema: Mapping[str, Any]) -> None:
        properties = schema.get("properties", {})
        self._template: dict[str, Any] = dict.fromkeys(properties)
        self._strings: list[str] = []
        self._ints: list[str] = []
        self._datetimes: list[str] = []
        self._converters: list[tuple[str, Callable[[Any], Any]]] = []
        for name, info in fields.items():
            if name not in properties or not isinstance(info, Mapping):
                continue
            convert = _single(str(info.get("type", "")))
            if info.get("isMultiple"):
                self._converters.append((name, _many(convert)))
            elif convert is to_string:
                self._strings.append(name)
            elif convert is to_int:
                self._ints.append(name)
            elif convert is to_datetime:
                self._datetimes.append(name)
            else:
                self._converters.append((name, convert))
        self._fm = [column for column in FM_COLUMNS.values() if column in properties]

    def __call__(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Convert one row; keys the schema does not know are dropped."""
        record = self._template.copy()
        for name in self._strings:
            if name in row:
                value = row[name]
                record[name] = value if value.__class__ is str else to_string(value)
        put_ints(record, self._ints, row)
        put_datetimes(record, self._datetimes, row)
        for name, convert in self._converters:
            if name in row:
                record[name] = convert(row[name])
        if self._fm and "fm" in row:
            columns = fm_columns(row["fm"])
            for column in self._fm:
                record[column] = columns[column]
        return record
