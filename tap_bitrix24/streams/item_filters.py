"""Checking ``item_filters`` against a type's ``crm.item.fields`` before any data is read.

crm.item.list refuses an unknown filter field with HTTP 400 (INVALID_ARG_VALUE) in the middle
of a run, so the tap checks every key first and says which setting to fix in one line. Boolean
user fields filter on ``1``/``0`` (the portal compares them as numbers) while standard boolean
fields take ``Y``/``N``; a JSON boolean is written the way the field wants it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tap_bitrix24.errors import ConfigError
from tap_bitrix24.streams.filter_keys import is_iso_datetime, near_hint, split_key

#: (prefix, field) pairs the walk sets itself.
RESERVED = {(">", "id"), (">=", "updatedTime")}


def _field_names(fields: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Every accepted spelling (camelCase and upperName) -> the camelCase name."""
    names: dict[str, str] = {}
    for name, info in fields.items():
        names[name] = name
        upper = info.get("upperName") if isinstance(info, Mapping) else None
        if isinstance(upper, str) and upper:
            names[upper] = name
    return names


def _typed(setting: str, key: str, info: Mapping[str, Any], item: Any) -> Any:
    if isinstance(item, (Mapping, list)):
        raise ConfigError(f"{setting}: {key!r} must be a value or a list of values")
    field_type = str(info.get("type", ""))
    if field_type == "boolean":
        if item not in (True, False, "Y", "N", 1, 0, "1", "0"):
            raise ConfigError(f"{setting}: {key!r} = {item!r}: a Y/N field; write true or false")
        flag = item in (True, "Y", 1, "1")
        if info.get("isDynamic"):
            return 1 if flag else 0
        return "Y" if flag else "N"
    if field_type in ("datetime", "date") and item is not None and not is_iso_datetime(item):
        raise ConfigError(
            f"{setting}: {key!r} = {item!r} is not an ISO date-time "
            "(write e.g. 2024-01-31T00:00:00+03:00)"
        )
    if isinstance(item, bool):
        raise ConfigError(f"{setting}: {key!r} = {item!r}: a boolean for a {field_type} field")
    if not isinstance(item, (str, int)) and item is not None:
        return str(item)  # a config Decimal: its digits, never a float's repr
    return item


def validate_item_filter(
    stream: str, user_filter: Mapping[str, Any], fields: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """``user_filter`` as it should be sent, if every key names a field of the stream's type."""
    setting = f"item_filters.{stream}"
    names = _field_names(fields)
    checked: dict[str, Any] = {}
    for key, value in user_filter.items():
        prefix, name = split_key(str(key))
        field = names.get(name)
        if field is None:
            raise ConfigError(
                f"{setting}: unknown field in key {key!r}{near_hint(prefix, name, names)}; the "
                "portal would refuse the request (400). Use a field crm.item.fields lists for "
                "this type, camelCase (stageId) or its upperName (STAGE_ID)"
            )
        if (prefix, field) in RESERVED:
            raise ConfigError(
                f"{setting}: {key!r} is set by the tap itself (incremental bookmark and keyset "
                "cursor); use start_date, or a different prefix"
            )
        if isinstance(value, list) and not value:
            raise ConfigError(f"{setting}: {key!r} has an empty list; it would match everything")
        info = fields[field]
        if isinstance(value, list):
            checked[str(key)] = [_typed(setting, str(key), info, v) for v in value]
        else:
            checked[str(key)] = _typed(setting, str(key), info, value)
    return checked
