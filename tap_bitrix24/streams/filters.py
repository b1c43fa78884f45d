"""Checking the user's ``filter`` against ``crm.activity.fields`` before any data is read.

Bitrix24 silently drops filter keys it does not know (a typo returns everything), treats an
empty list as "no condition", turns an unparsable date into "IS NULL" and compares Y/N fields
with whatever text arrives (a boolean reaches it as ``0``/``1`` and matches nothing). Each of
those would quietly load the wrong rows, so the tap refuses them with a message naming the key,
and writes booleans for Y/N fields as ``Y``/``N``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from tap_bitrix24.errors import ConfigError
from tap_bitrix24.streams.filter_keys import PREFIXES, is_iso_datetime, near_hint, split_key

#: Keys the walk itself sets; a user condition on them would fight the cursor.
RESERVED = {">ID", ">=LAST_UPDATED"}

_DATETIME_PREFIXES = {"", "=", "!", "!=", ">", ">=", "<", "<="}
_INTEGER_TEXT = re.compile(r"-?\d+")
_Y_N = {True: "Y", False: "N", "Y": "Y", "N": "N"}


def _check_datetime(key: str, value: Any) -> None:
    values = value if isinstance(value, list) else [value]
    for item in values:
        if not is_iso_datetime(item):
            raise ConfigError(
                f"filter: {key} = {item!r} is not an ISO date-time; Bitrix24 would turn it into "
                "'IS NULL' and match nothing (use e.g. 2024-01-31T00:00:00+03:00)"
            )


def _is_integer_type(field_type: str) -> bool:
    return field_type in ("integer", "user") or field_type.startswith("crm_enum_")


def _is_whole(number: Decimal | float) -> bool:
    try:
        return number == int(number)
    except (ValueError, OverflowError, ArithmeticError):
        return False


def _what_to_write(field_type: str) -> str:
    if _is_integer_type(field_type):
        return f"an integer field ({field_type}); write a whole number such as 2"
    if field_type == "double":
        return "a number field; write a number such as 12.5"
    if field_type in ("datetime", "date"):
        return "a date-time field; write an ISO date-time such as 2024-01-31T00:00:00+03:00"
    return f"a {field_type or 'text'} field; write the text to compare with"


def _typed_value(key: str, field_type: str, item: Any) -> Any:
    """One filter value as Bitrix24 should receive it, or a ConfigError saying what to write."""
    if item is None:
        return None
    if isinstance(item, (Mapping, list)):
        raise ConfigError(f"filter: {key!r} must be a value or a list of values, not {item!r}")
    shown = str(item) if isinstance(item, Decimal) else repr(item)
    if field_type == "char":
        if not isinstance(item, (bool, str)) or item not in _Y_N:
            raise ConfigError(
                f'filter: {key!r} = {shown}: a Y/N field; write true or false (or "Y"/"N")'
            )
        return _Y_N[item]
    if isinstance(item, bool):
        raise ConfigError(f"filter: {key!r} = {shown}: a boolean for {_what_to_write(field_type)}")
    if _is_integer_type(field_type):
        if isinstance(item, int):
            return item
        if isinstance(item, (Decimal, float)) and _is_whole(item):
            return int(item)
        if isinstance(item, str) and _INTEGER_TEXT.fullmatch(item.strip()):
            return item.strip()
        raise ConfigError(f"filter: {key!r} = {shown}: {_what_to_write(field_type)}")
    if field_type == "double":
        try:
            number = Decimal(str(item).strip())
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            raise ConfigError(f"filter: {key!r} = {shown}: {_what_to_write(field_type)}")
        return str(item).strip() if isinstance(item, str) else str(number)
    if isinstance(item, (Decimal, float)):
        return str(item)  # never a float's or Decimal's repr in the query
    return item


def _check_bindings(key: str, value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise ConfigError(
            f'filter: {key} must be a list of objects such as [{{"OWNER_TYPE_ID": 2, '
            '"OWNER_ID": 15}]'
        )
    for item in value:
        unknown = set(item) - {"OWNER_TYPE_ID", "OWNER_ID"}
        if unknown or not item.get("OWNER_TYPE_ID"):
            raise ConfigError(
                f"filter: each {key} entry needs OWNER_TYPE_ID (and optionally OWNER_ID); "
                f"got {dict(item)!r}"
            )


def validate_filter(
    user_filter: Mapping[str, Any], fields: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """``user_filter`` as it should be sent, if every key and value is valid for its field.

    Booleans for Y/N fields become ``Y``/``N``; whole config numbers (Decimals) become ints.
    """
    checked: dict[str, Any] = {}
    for key, value in user_filter.items():
        prefix, name = split_key(str(key))
        if name not in fields:
            raise ConfigError(
                f"filter: unknown field in key {key!r}{near_hint(prefix, name, fields)}; "
                "Bitrix24 would ignore it and return every activity. Field names are upper-case, "
                "as listed by crm.activity.fields; prefixes: " + " ".join(PREFIXES)
            )
        if f"{prefix}{name}" in RESERVED:
            raise ConfigError(
                f"filter: {key!r} is set by the tap itself (incremental bookmark and keyset "
                "cursor); use start_date, or a different prefix"
            )
        if isinstance(value, list) and not value:
            raise ConfigError(
                f"filter: {key!r} has an empty list; Bitrix24 drops such a condition and "
                "returns everything"
            )
        if isinstance(value, Mapping) and name != "BINDINGS":
            raise ConfigError(f"filter: {key!r} must be a value or a list of values")
        field_type = str(fields[name].get("type", ""))
        if name == "BINDINGS":
            if prefix not in ("", "="):
                raise ConfigError(f"filter: BINDINGS takes no prefix, got {key!r}")
            _check_bindings(str(key), value)
        elif field_type == "datetime":
            if prefix not in _DATETIME_PREFIXES:
                raise ConfigError(
                    f"filter: {key!r}: date-time fields accept only = ! != > >= < <= "
                    "(Bitrix24 treats other prefixes as '=')"
                )
            _check_datetime(str(key), value)
        elif name in ("COMMUNICATIONS", "FILES", "WEBDAV_ELEMENTS"):
            raise ConfigError(f"filter: {name} cannot be filtered on (Bitrix24 ignores it)")
        if name != "BINDINGS":
            if isinstance(value, list):
                value = [_typed_value(str(key), field_type, item) for item in value]
            else:
                value = _typed_value(str(key), field_type, value)
        checked[str(key)] = value
    return checked


def has_bindings(user_filter: Mapping[str, Any]) -> bool:
    """A BINDINGS condition makes Bitrix24 return an activity once per matching pair."""
    return any(split_key(k)[1] == "BINDINGS" for k in user_filter)
