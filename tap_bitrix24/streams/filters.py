"""Checking the user's ``filter`` against ``crm.activity.fields`` before any data is read.

Bitrix24 silently drops filter keys it does not know (a typo returns everything), treats an
empty list as "no condition" and turns an unparsable date into "IS NULL". Each of those would
quietly load the wrong rows, so the tap refuses them with a message naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tap_bitrix24.errors import ConfigError

#: Documented prefixes, longest first so that ``>=`` wins over ``>``.
PREFIXES = ("!=%", "!%=", "=%", "%=", "!%", "!@", "!=", ">=", "<=", ">", "<", "@", "%", "=", "!")

#: Keys the walk itself sets; a user condition on them would fight the cursor.
RESERVED = {">ID", ">=LAST_UPDATED"}

_DATETIME_PREFIXES = {"", "=", "!", "!=", ">", ">=", "<", "<="}


def split_key(key: str) -> tuple[str, str]:
    """``">=LAST_UPDATED"`` -> ``(">=", "LAST_UPDATED")``."""
    for prefix in PREFIXES:
        if key.startswith(prefix):
            return prefix, key[len(prefix) :]
    return "", key


def _check_datetime(key: str, value: Any) -> None:
    values = value if isinstance(value, list) else [value]
    for item in values:
        try:
            datetime.fromisoformat(str(item).replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(
                f"filter: {key} = {item!r} is not an ISO date-time; Bitrix24 would turn it into "
                "'IS NULL' and match nothing (use e.g. 2024-01-31T00:00:00+03:00)"
            ) from None


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
    """Return ``user_filter`` if every key is a known field with a valid prefix and value."""
    checked: dict[str, Any] = {}
    for key, value in user_filter.items():
        prefix, name = split_key(str(key))
        if name not in fields:
            near = [f for f in fields if f.upper() == name.upper()]
            hint = f" (did you mean {prefix}{near[0]}?)" if near else ""
            raise ConfigError(
                f"filter: unknown field in key {key!r}{hint}; Bitrix24 would ignore it and "
                "return every activity. Field names are upper-case, as listed by "
                "crm.activity.fields; prefixes: " + " ".join(PREFIXES)
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
        checked[str(key)] = value
    return checked


def has_bindings(user_filter: Mapping[str, Any]) -> bool:
    """A BINDINGS condition makes Bitrix24 return an activity once per matching pair."""
    return any(split_key(k)[1] == "BINDINGS" for k in user_filter)
