"""The ``batch`` method: PHP bracket encoding of commands and reading its response sections.

A batch sub-command is ``method?query`` where the query uses PHP bracket notation, parsed on
the server with ``parse_str``; a literal ``+`` must travel as ``%2B`` (``quote`` does that).
Empty response sections come back as ``[]`` rather than ``{}``; command names are never plain
integers here, so a full section is always an object.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
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
        if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
            if value:
                parts.append(_string_list(name, tuple(value)))
            continue
        for key, item in _pairs(name, value):
            parts.append(f"{quote(key, safe=_SAFE)}={quote(item, safe=_SAFE)}")
    return "&".join(parts)


@lru_cache(maxsize=256)
def _string_list(name: str, items: tuple[str, ...]) -> str:
    """``select[0]=ID&select[1]=…``, encoded once per list.

    A select repeats in every command of every batch: a type with 70 fields has 3,500 pairs to
    encode per request.
    """
    return "&".join(
        f"{quote(f'{name}[{index}]', safe=_SAFE)}={quote(item, safe=_SAFE)}"
        for index, item in enumerate(items)
    )


def command(method: str, params: Mapping[str, Any]) -> str:
    """One batch command string."""
    return f"{method}?{php_query(params)}"


@dataclass(frozen=True)
class BatchCall:
    """One ``batch`` request as data: command name -> (method, params).

    The client learns each command's method from here (never from the encoded body). In a
    ``chained`` batch later commands read earlier results (``$result[p0][49][ID]``), so a
    failed command ends the chain; the commands of an independent batch stand alone, so a
    failed one can be re-sent by itself.
    """

    commands: Mapping[str, tuple[str, Mapping[str, Any]]]
    chained: bool = False

    @property
    def names(self) -> list[str]:
        """Command names in order."""
        return list(self.commands)

    def method_of(self, name: str) -> str:
        """The method command ``name`` calls."""
        return self.commands[name][0]

    def methods(self) -> list[str]:
        """The distinct methods this batch calls."""
        return sorted({method for method, _ in self.commands.values()})

    def body(self) -> dict[str, Any]:
        """The JSON body of the ``batch`` request."""
        return {
            "halt": 0,
            "cmd": {
                name: command(method, params) for name, (method, params) in self.commands.items()
            },
        }

    def only(self, names: Iterable[str]) -> BatchCall:
        """The same batch restricted to ``names`` (to re-send failed commands alone)."""
        keep = set(names)
        return BatchCall({n: c for n, c in self.commands.items() if n in keep}, self.chained)


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
