"""From ``crm.activity.fields`` to a JSON schema, and from Bitrix24's strings to typed values.

Bitrix24 returns every scalar as a string, empty datetimes as ``""`` and empty objects as
``[]``. :func:`build_schema` gives each field a real type and :class:`RecordConverter` turns a
raw row into a record that matches it, with one precompiled converter per field so the hot path
stays cheap.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from tap_bitrix24.client.redact import strip_auth_param

logger = logging.getLogger("tap-bitrix24")

#: Fields listed by ``crm.activity.fields`` that ``crm.activity.list`` never returns.
FILTER_ONLY = frozenset({"BINDINGS"})
#: Fields returned only when named in ``select`` (``*`` does not include them).
EXPLICIT_SELECT = frozenset({"COMMUNICATIONS", "FILES", "WEBDAV_ELEMENTS", "IS_INCOMING_CHANNEL"})

_INTEGER_TYPES = {"integer", "user"}

COMMUNICATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "ID": {"type": ["integer", "null"]},
        "TYPE": {"type": ["string", "null"]},
        "VALUE": {"type": ["string", "null"]},
        "ENTITY_ID": {"type": ["integer", "null"]},
        "ENTITY_TYPE_ID": {"type": ["integer", "null"]},
        "ENTITY_SETTINGS": {"type": ["object", "null"], "additionalProperties": True},
    },
}

FILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"id": {"type": ["integer", "null"]}, "url": {"type": ["string", "null"]}},
}


def property_schema(name: str, info: Mapping[str, Any]) -> dict[str, Any] | None:
    """The JSON schema of one field, or ``None`` for filter-only fields."""
    if name in FILTER_ONLY:
        return None
    bitrix_type = str(info.get("type", ""))
    title = info.get("title")
    schema: dict[str, Any]
    if bitrix_type in _INTEGER_TYPES or bitrix_type.startswith("crm_enum_"):
        schema = {"type": ["integer", "null"]}
    elif bitrix_type == "double":
        # DECIMAL(18,4) in Bitrix24's database: emitted as an exact JSON number (decimal.Decimal,
        # written digit for digit by the SDK's writer), never through a binary float.
        schema = {"type": ["number", "null"]}
    elif bitrix_type in ("datetime", "date"):
        schema = {
            "type": ["string", "null"],
            "format": "date-time" if bitrix_type == "datetime" else "date",
        }
    elif bitrix_type == "char":
        schema = {"type": ["boolean", "null"]}
    elif bitrix_type == "object":
        schema = {"type": ["object", "null"], "additionalProperties": True}
    elif bitrix_type == "crm_activity_communication":
        schema = {"type": ["array", "null"], "items": COMMUNICATION_SCHEMA}
    elif bitrix_type == "diskfile":
        schema = {"type": ["array", "null"], "items": FILE_SCHEMA}
    elif bitrix_type == "string":
        schema = {"type": ["string", "null"]}
    else:
        logger.warning(
            "Field %s has the unknown Bitrix24 type %r; it is extracted as a string",
            name,
            bitrix_type,
        )
        schema = {"type": ["string", "null"]}
    if name == "ID":
        schema["type"] = ["integer"]
    if title and title != name:
        schema["description"] = str(title)
    return schema


def build_schema(
    fields: Mapping[str, Mapping[str, Any]],
    *,
    include_communications: bool = False,
    include_files: bool = False,
) -> dict[str, Any]:
    """The stream schema: one property per field of ``crm.activity.fields``.

    Left out: BINDINGS (filter-only), deprecated aliases (WEBDAV_ELEMENTS: Disk portals answer
    with FILES), and COMMUNICATIONS/FILES unless the settings ask for them, so that every
    property of the schema can actually be filled.
    """
    skip = set(FILTER_ONLY)
    if not include_communications:
        skip.add("COMMUNICATIONS")
    if not include_files:
        skip.add("FILES")
    properties: dict[str, Any] = {}
    for name, info in fields.items():
        info = info if isinstance(info, Mapping) else {}
        if name in skip or info.get("isDeprecated"):
            continue
        prop = property_schema(name, info)
        if prop is not None:
            properties[name] = prop
    return {"type": "object", "properties": properties, "required": ["ID"]}


# -- value converters -------------------------------------------------------------------------


def to_int(value: Any) -> int | None:
    """``"20"`` -> 20; ``""``/null -> None; ``"12.0"`` -> 12."""
    try:
        return int(value)
    except (TypeError, ValueError):
        if value is None or value == "" or isinstance(value, bool):
            return None
        try:
            return int(float(value))
        except (TypeError, ValueError, OverflowError):
            return None


def to_decimal(value: Any) -> Decimal | None:
    """``"12345678901234.5678"`` -> the exact Decimal (a float keeps ~16 digits); ``""`` -> None.

    Bitrix24 stores money as DECIMAL(18,4) and sends it as text; the SDK's writer prints a
    Decimal as a JSON number with the same digits.
    """
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = Decimal(value if isinstance(value, (str, int)) else str(value))
    except (TypeError, ValueError, InvalidOperation):
        return None
    return number if number.is_finite() else None


def to_datetime(value: Any) -> str | None:
    """Portal-time ISO string -> the same instant in UTC (``…+00:00``); ``""`` -> None.

    One fixed format keeps bookmarks comparable as strings. Year-9999 "no deadline" values
    that would overflow in UTC are kept as Bitrix24 wrote them.
    """
    if not value or not isinstance(value, str):
        return None
    # Bitrix24's own shape, a whole-hour offset: the hour is converted once per date and hour
    # (five datetimes a row made this the largest cost per record), minutes and seconds kept.
    if len(value) == _PLAIN_LENGTH and value.endswith(":00") and value[13:19] in _MINUTE_SECONDS:
        key = value[:13] + value[19:]
        hour = _UTC_HOURS.get(key)
        if hour is None:
            start = _to_utc(key[:13] + ":00:00" + key[13:])
            if start is None or not start.endswith("+00:00"):
                return _to_utc(value)  # invalid, or out of range in UTC
            if len(_UTC_HOURS) >= _UTC_HOURS_MAX:
                _UTC_HOURS.clear()
            hour = _UTC_HOURS[key] = start[:13]
        return hour + value[13:19] + "+00:00"
    return _to_utc(value)


_PLAIN_LENGTH = len("2026-11-30T05:46:05+03:00")
_MINUTE_SECONDS = frozenset(f":{m:02d}:{s:02d}" for m in range(60) for s in range(60))
#: ``2026-11-30T05+03:00`` -> ``2026-11-30T02``; bounded by clearing.
_UTC_HOURS: dict[str, str] = {}
_UTC_HOURS_MAX = 1 << 16


def _to_utc(value: str) -> str | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.isoformat() + "+00:00"
    try:
        return parsed.astimezone(timezone.utc).isoformat()
    except OverflowError:
        return value


def to_bool(value: Any) -> bool | None:
    """``"Y"``/``"N"`` -> True/False."""
    if value == "Y":
        return True
    if value == "N":
        return False
    if isinstance(value, bool):
        return value
    return None


def to_object(value: Any) -> dict[str, Any] | None:
    """Bitrix24's ``[]`` for an empty object -> ``{}``; objects pass through."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list) and not value:
        return {}
    if isinstance(value, list):
        return {str(i): item for i, item in enumerate(value)}
    return None


def to_string(value: Any) -> str | None:
    """Strings pass; anything else (an unknown type's structure) becomes JSON text."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def to_communications(value: Any) -> list[dict[str, Any]] | None:
    """Type each COMMUNICATIONS item."""
    if not isinstance(value, list):
        return None
    return [
        {
            "ID": to_int(item.get("ID")),
            "TYPE": to_string(item.get("TYPE")),
            "VALUE": to_string(item.get("VALUE")),
            "ENTITY_ID": to_int(item.get("ENTITY_ID")),
            "ENTITY_TYPE_ID": to_int(item.get("ENTITY_TYPE_ID")),
            "ENTITY_SETTINGS": to_object(item.get("ENTITY_SETTINGS")) or {},
        }
        for item in value
        if isinstance(item, dict)
    ]


def to_files(value: Any) -> list[dict[str, Any]] | None:
    """``[{id, url}]`` with the caller's credential removed from each URL."""
    if not isinstance(value, list):
        return None
    files = []
    for item in value:
        if isinstance(item, dict):
            url = item.get("url")
            files.append(
                {
                    "id": to_int(item.get("id")),
                    "url": strip_auth_param(url) if isinstance(url, str) else None,
                }
            )
    return files


def converter_for(schema: Mapping[str, Any]) -> Callable[[Any], Any]:
    """The converter that produces values matching one property schema."""
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    if "integer" in types:
        return to_int
    if "number" in types:
        return to_decimal
    if "boolean" in types:
        return to_bool
    if "object" in types:
        return to_object
    if "array" in types:
        items = schema.get("items", {}).get("properties", {})
        return to_files if "url" in items else to_communications
    if schema.get("format") in ("date-time", "date"):
        return to_datetime
    return to_string


def put_ints(record: dict[str, Any], names: list[str], source: Mapping[str, Any]) -> None:
    """``record[name] = to_int(source[name])`` for ``names``, with ``int()`` inline.

    Most fields of a row are integers: a call per value costs more than the conversion. A
    missing or null value leaves the record's null.
    """
    for name in names:
        value = source.get(name)
        if value is not None:
            try:
                record[name] = int(value)
            except (TypeError, ValueError):
                record[name] = to_int(value)


def put_datetimes(record: dict[str, Any], names: list[str], source: Mapping[str, Any]) -> None:
    """``record[name] = to_datetime(source[name])`` for ``names``, each instant once.

    A row's datetimes often repeat one instant (START_TIME, DEADLINE and CREATED; an item's
    createdTime, updatedTime and movedTime).
    """
    done: dict[str, str | None] = {}
    for name in names:
        value = source.get(name)
        if value.__class__ is not str:
            record[name] = to_datetime(value)  # None, or something no instant comes from
        else:
            if value not in done:
                done[value] = to_datetime(value)
            record[name] = done[value]


class SchemaRecords:
    """Records that carry every schema property (null when absent), in schema order."""

    _template: dict[str, Any]

    def blank(self, **values: Any) -> dict[str, Any]:
        """A record with every property null except ``values`` (tombstones).

        Values of properties the record does not hold (deselected ones) are left out.
        """
        record = self._template.copy()
        for name, value in values.items():
            if name in record:
                record[name] = value
        return record


class RecordConverter(SchemaRecords):
    """Converts raw rows to records of one schema: every property present, null when absent.

    Loaders that take their columns from the first record (target-csv and the like) would
    otherwise lose a property the first row happened to lack. The hot path copies a template
    of all keys (schema order), overlays the row and converts only non-null, non-string fields.
    """

    def __init__(self, schema: Mapping[str, Any]) -> None:
        converters = {
            name: converter_for(prop) for name, prop in schema.get("properties", {}).items()
        }
        self._names = frozenset(converters)
        self._template: dict[str, Any] = dict.fromkeys(converters)
        self._ints = [name for name, fn in converters.items() if fn is to_int]
        self._datetimes = [name for name, fn in converters.items() if fn is to_datetime]
        self._typed = [
            (name, fn)
            for name, fn in converters.items()
            if fn not in (to_string, to_int, to_datetime)
        ]
        self._strings = [name for name, fn in converters.items() if fn is to_string]

    def __call__(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Convert one row; keys the schema does not know are dropped."""
        record = self._template.copy()
        record.update(row)
        if len(record) != len(self._template):
            for key in record.keys() - self._names:
                del record[key]
        put_ints(record, self._ints, record)
        put_datetimes(record, self._datetimes, record)
        for key, convert in self._typed:
            value = record[key]
            if value is not None:  # every converter maps None to None
                record[key] = convert(value)
        for key in self._strings:
            value = record[key]
            if value is not None and not isinstance(value, str):
                record[key] = to_string(value)
        return record
