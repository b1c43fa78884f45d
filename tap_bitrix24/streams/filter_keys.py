"""What the checks of ``filter`` (activities) and ``item_filters`` (CRM items) share.

Both read a key as an operator prefix and a field name, name the field a key differing only in
case meant, and refuse a date-time Bitrix24 cannot parse (it would compare with NULL).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

#: Documented prefixes, longest first so that ``>=`` wins over ``>``.
PREFIXES = ("!=%", "!%=", "=%", "%=", "!%", "!@", "!=", ">=", "<=", ">", "<", "@", "%", "=", "!")


def split_key(key: str) -> tuple[str, str]:
    """``">=LAST_UPDATED"`` -> ``(">=", "LAST_UPDATED")``."""
    for prefix in PREFIXES:
        if key.startswith(prefix):
            return prefix, key[len(prefix) :]
    return "", key


def near_hint(prefix: str, name: str, fields: Iterable[str]) -> str:
    """`` (did you mean >=stageId?)`` for a field spelled like NAME but for case, else ``""``."""
    near = [f for f in fields if f.lower() == name.lower()]
    return f" (did you mean {prefix}{near[0]}?)" if near else ""


def is_iso_datetime(value: Any) -> bool:
    """Whether VALUE reads as an ISO 8601 date or date-time (``Z`` for UTC allowed)."""
    try:
        datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return False
    return True
