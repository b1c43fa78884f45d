"""The activity field catalogue: the exact ``crm.activity.fields`` answer and what follows from it.

The REST layer whitelists filter keys against this catalogue, and the list's default column set
is its first 39 fields in SQL order (which differs from the catalogue's order).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

# Default list columns, in the order the server's field map (and the docs' example) gives them.
DEFAULT_SELECT: tuple[str, ...] = (
    "ID",
    "OWNER_ID",
    "OWNER_TYPE_ID",
    "TYPE_ID",
    "PROVIDER_ID",
    "PROVIDER_TYPE_ID",
    "PROVIDER_GROUP_ID",
    "ASSOCIATED_ENTITY_ID",
    "SUBJECT",
    "CREATED",
    "LAST_UPDATED",
    "START_TIME",
    "END_TIME",
    "DEADLINE",
    "COMPLETED",
    "STATUS",
    "RESPONSIBLE_ID",
    "PRIORITY",
    "NOTIFY_TYPE",
    "NOTIFY_VALUE",
    "DESCRIPTION",
    "DESCRIPTION_TYPE",
    "DIRECTION",
    "LOCATION",
    "SETTINGS",
    "ORIGINATOR_ID",
    "ORIGIN_ID",
    "AUTHOR_ID",
    "EDITOR_ID",
    "PROVIDER_PARAMS",
    "PROVIDER_DATA",
    "RESULT_MARK",
    "RESULT_VALUE",
    "RESULT_SUM",
    "RESULT_CURRENCY_ID",
    "RESULT_STATUS",
    "RESULT_STREAM",
    "RESULT_SOURCE_ID",
    "AUTOCOMPLETE_RULE",
)

FILE_SELECT_NAMES = frozenset({"FILES", "STORAGE_ELEMENT_IDS", "WEBDAV_ELEMENTS"})
# Selectable beyond the defaults, only when named literally.
EXTRA_SELECT = frozenset({"COMMUNICATIONS", "IS_INCOMING_CHANNEL"}) | FILE_SELECT_NAMES
# Filter keys that survive the whitelist but have no SQL column: accepted and ignored.
NO_SQL_FILTER = frozenset({"COMMUNICATIONS", "FILES", "WEBDAV_ELEMENTS"})

# How a field compares in SQL: integer, string, datetime, double or object (serialized text).
INT_TYPES = frozenset(
    {
        "integer",
        "user",
        "crm_enum_ownertype",
        "crm_enum_activitytype",
        "crm_enum_activitystatus",
        "crm_enum_activitypriority",
        "crm_enum_activitynotifytype",
        "crm_enum_activitydirection",
        "crm_enum_contenttype",
    }
)


def _load(name: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath("data").joinpath(name).read_text(encoding="utf-8")
    return json.loads(text)


@cache
def activity_fields() -> dict[str, Any]:
    """The ``result`` object of ``crm.activity.fields``, key order preserved."""
    return _load("crm.activity.fields.json")["result"]


@cache
def communication_fields() -> dict[str, Any]:
    """The ``result`` object of ``crm.activity.communication.fields``."""
    return _load("crm.activity.communication.fields.json")["result"]


@cache
def field_kinds() -> dict[str, str]:
    """Field name -> comparison kind: int, string, datetime, double, object, or special."""
    kinds: dict[str, str] = {}
    for name, info in activity_fields().items():
        ftype = info["type"]
        if ftype in INT_TYPES:
            kinds[name] = "int"
        elif ftype in ("string", "char"):
            kinds[name] = "string"
        elif ftype == "datetime":
            kinds[name] = "datetime"
        elif ftype == "double":
            kinds[name] = "double"
        elif ftype == "object":
            kinds[name] = "object"
        else:
            kinds[name] = "special"
    return kinds


SORTABLE = frozenset(DEFAULT_SELECT) | {"IS_INCOMING_CHANNEL"}
