"""The ``batch`` method: PHP bracket encoding of commands and reading its response sections.

A batch sub-command is ``method?query`` where the query uses PHP bracket notation, parsed on
the server with ``parse_str``; a literal ``+`` must travel as ``%2B`` (``quote`` does that).
Empty response sections come back as ``[]`` rather than ``{}``; command names are never plain
integers here, so a full section is always an object.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

#: Bitrix24 runs at most this many commands of one batch.
MAX_COMMANDS = 50

_SAFE = "[]$*"


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if value is None:
        return ""
    return str(value)


def _pairs(prefix: str, value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _pairs(f"{prefix}[{key}]", item)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _pairs(f"{prefix}[{index}]", item)
    else:
        yield prefix, _scalar(value)


def php_query(params: Mapping[str, Any]) -> str:
    """Encode ``params`` as a PHP bracket query string (``filter[>ID]=5&select[0]=ID``)."""
    parts = []
    for name, value in params.items():
        for key, item in _pairs(name, value):
            parts.append(f"{quote(key, safe=_SAFE)}={quote(item, safe=_SAFE)}")
    return "&".join(parts)


def command(method: str, params: Mapping[str, Any]) -> str:
    """One batch command string."""
    return f"{method}?{php_query(params)}"


def _section(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass
class BatchResult:
    """The sections of a batch response, each keyed by command name."""

    result: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, dict[str, Any]] = field(default_factory=dict)
    total: dict[str, Any] = field(default_factory=dict)
    next: dict[str, Any] = field(default_factory=dict)
    time: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> BatchResult:
        """Read the ``result`` object of a batch response body."""
        outer = body.get("result")
        outer = outer if isinstance(outer, dict) else {}
        return cls(
            result=_section(outer.get("result")),
            errors=_section(outer.get("result_error")),
            total=_section(outer.get("result_total")),
            next=_section(outer.get("result_next")),
            time=_section(outer.get("result_time")),
        )
