"""``batch``: up to 50 sub-calls in one HTTP request, with ``$result[...]`` references.

Follows ``CRestProvider::methodsBatch``: commands are ``method?query`` strings (PHP bracket
notation), keys and ``halt`` are matched case-insensitively, ``halt`` is PHP-truthy, the 51st and
later commands each get ERROR_BATCH_LENGTH_EXCEEDED, nested batch is refused per command, and an
unresolvable reference is passed on as its literal text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import ApiError
from .methods import NOT_IN_BATCH, CallResult
from .php import (
    Fragments,
    array_items,
    is_array,
    parse_str,
    php_array,
    php_key,
    php_strval,
    php_truthy,
)

MAX_COMMANDS = 50
_REF = re.compile(r"\$(result|next|total|time|error)((?:\[[^\[\]]*\])+)")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
_MISSING = object()

SubCall = Callable[[str, dict[str, Any], int], tuple[CallResult, dict[str, Any]]]


def split_command(command: str) -> tuple[str, dict[str, Any]]:
    """'crm.activity.list?filter[>ID]=5' -> ('crm.activity.list', {'filter': {'>ID': '5'}})."""
    method, _, query = command.partition("?")
    method = method.strip().lower()
    if method.endswith(".json"):
        method = method[:-5]
    return method, parse_str(query)


class _State:
    def __init__(self) -> None:
        self.result: dict[Any, Any] = {}
        self.error: dict[Any, Any] = {}
        self.total: dict[Any, Any] = {}
        self.next: dict[Any, Any] = {}
        self.time: dict[Any, Any] = {}

    def lookup(self, section: str, path: list[str]) -> Any:
        node: Any = getattr(self, section)
        for depth, seg in enumerate(path):
            if isinstance(node, Fragments):
                index = php_key(seg)
                node = node.row(index) if isinstance(index, int) else None
                if node is None:
                    return _MISSING
            elif isinstance(node, list):
                index = php_key(seg)
                if not isinstance(index, int) or not 0 <= index < len(node):
                    return _MISSING
                node = node[index]
            elif isinstance(node, dict):
                key: Any = php_key(seg) if depth == 0 else seg
                if key in node:
                    node = node[key]
                elif seg in node:
                    node = node[seg]
                else:
                    return _MISSING
            else:
                return _MISSING
        if isinstance(node, Fragments):
            return [node.row(i) for i in range(len(node))]
        return node

    def substitute(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self.substitute(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.substitute(v) for v in value]
        if not isinstance(value, str) or "$" not in value:
            return value
        whole = _REF.fullmatch(value)
        if whole:
            found = self.lookup(whole.group(1), _SEGMENT.findall(whole.group(2)))
            return value if found is _MISSING else found

        def replace(match: re.Match[str]) -> str:
            found = self.lookup(match.group(1), _SEGMENT.findall(match.group(2)))
            if found is _MISSING or is_array(found):
                return match.group(0)  # not resolvable: the literal text goes on
            return php_strval(found)

        return _REF.sub(replace, value)


def run_batch(params: dict[str, Any], call: SubCall) -> tuple[dict[str, Any], float, int]:
    """Execute the commands; returns (result object, summed cost, rows)."""
    lowered = {str(k).lower(): v for k, v in params.items()}
    commands = lowered.get("cmd")
    halt = php_truthy(lowered.get("halt", False))
    state = _State()
    cost = 0.0
    rows = 0
    for position, (raw_key, command) in enumerate(
        array_items(commands) if is_array(commands) else []
    ):
        key = php_key(raw_key)
        if position >= MAX_COMMANDS:
            state.error[key] = ApiError("ERROR_BATCH_LENGTH_EXCEEDED").body()
        elif isinstance(command, str):
            method, sub_params = split_command(command)
            try:
                if method in NOT_IN_BATCH:
                    raise ApiError("ERROR_BATCH_METHOD_NOT_ALLOWED")
                outcome, time_block = call(method, state.substitute(sub_params), position)
            except ApiError as exc:
                state.error[key] = exc.body()
            else:
                cost += outcome.cost
                rows += outcome.rows
                state.result[key] = outcome.result
                if outcome.total is not None:
                    state.total[key] = outcome.total
                if outcome.next is not None:
                    state.next[key] = outcome.next
                state.time[key] = time_block
        if halt and state.error:
            break
    result = {
        "result": php_array(state.result),  # row lists print as fragments
        "result_error": php_array(state.error),
        "result_total": php_array(state.total),
        "result_next": php_array(state.next),
        "result_time": php_array(state.time),
    }
    return result, cost, rows
