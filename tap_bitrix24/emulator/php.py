r"""PHP semantics the Bitrix24 server imposes on requests and responses.

The real portal is PHP: query strings are read with ``parse_str`` (bracket notation), scalars go
through ``intval``/truthiness, and responses come out of ``json_encode`` with HEX_TAG, HEX_AMP,
HEX_APOS, HEX_QUOT and unescaped unicode (so ``<`` is ``\u003C`` and ``/`` is ``\/``). A client
that parses the emulator correctly therefore parses the real thing.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any
from urllib.parse import unquote_plus

_INT_KEY = re.compile(r"^(0|-?[1-9][0-9]*)$")
_INTVAL = re.compile(r"^[ \t\n\r\v\f]*([+-]?[0-9]+)")
_FLOATVAL = re.compile(r"^[ \t\n\r\v\f]*([+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?)")


def is_array(value: Any) -> bool:
    """Whether a decoded value is a PHP array (JSON list or object, or bracket-notation map)."""
    return isinstance(value, (dict, list))


def array_values(value: Any) -> list[Any]:
    """Values of a PHP array in order."""
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return list(value)
    return [value]


def array_items(value: Any) -> list[tuple[str, Any]]:
    """(key, value) pairs of a PHP array; list indexes become string keys."""
    if isinstance(value, dict):
        return [(str(k), v) for k, v in value.items()]
    if isinstance(value, list):
        return [(str(i), v) for i, v in enumerate(value)]
    return []


def php_key(key: Any) -> int | str:
    """Normalise an array key the way PHP does: canonical decimal strings become integers."""
    if isinstance(key, bool):
        return int(key)
    if isinstance(key, int):
        return key
    text = str(key)
    if _INT_KEY.match(text) and len(text) < 19:
        return int(text)
    return text


def php_array(mapping: dict[Any, Any]) -> list[Any] | dict[str, Any]:
    """Serialise like ``json_encode`` of a PHP array: keys 0..n-1 in order give a JSON list."""
    if not mapping:
        return []
    keys = [php_key(k) for k in mapping]
    if keys == list(range(len(keys))):
        return list(mapping.values())
    return {str(k): v for k, v in zip(keys, mapping.values(), strict=True)}


def php_intval(value: Any) -> int:
    """PHP ``intval``: leading integer of a string, 0 when there is none."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value == value and abs(value) < 2**63 else 0
    if value is None:
        return 0
    if isinstance(value, (list, dict)):
        return 1 if value else 0
    match = _INTVAL.match(str(value))
    if not match:
        return 0
    number = int(match.group(1))
    # PHP 7.1+: numeric strings in exponent form are converted as floats.
    fmatch = _FLOATVAL.match(str(value))
    if fmatch and fmatch.group(4):
        with contextlib.suppress(OverflowError, ValueError):
            number = int(float(fmatch.group(1)))
    return max(min(number, 2**63 - 1), -(2**63))


def php_floatval(value: Any) -> float:
    """PHP ``floatval``: leading number of a string, 0.0 when there is none."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if value is None or isinstance(value, (list, dict)):
        return 0.0
    match = _FLOATVAL.match(str(value))
    return float(match.group(1)) if match else 0.0


def php_truthy(value: Any) -> bool:
    """PHP truthiness: '' and '0' are false, any other string (even 'false') is true."""
    if isinstance(value, str):
        return value not in ("", "0")
    if isinstance(value, (list, dict)):
        return bool(value)
    return bool(value)


def php_strval(value: Any) -> str:
    """PHP string conversion of a scalar (true -> '1', false/null -> '')."""
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _split_key(key: str) -> tuple[str, list[str]] | None:
    key = key.lstrip(" ")
    first = key.find("[")
    segments: list[str] = []
    if first < 0:
        base = key
    else:
        base = key[:first]
        pos = first
        while pos < len(key) and key[pos] == "[":
            end = key.find("]", pos + 1)
            if end < 0:
                if not segments:
                    # An unmatched '[' is kept in the name (as '_') and no nesting happens.
                    base = key[:first] + "_" + key[first + 1 :]
                break
            segments.append(key[pos + 1 : end])
            pos = end + 1
    if not base:
        return None
    return base.replace(" ", "_").replace(".", "_"), segments


def _next_index(container: dict[str, Any]) -> str:
    highest = -1
    for k in container:
        pk = php_key(k)
        if isinstance(pk, int) and pk > highest:
            highest = pk
    return str(highest + 1)


def parse_str(query: str) -> dict[str, Any]:
    """PHP ``parse_str``: ``a[b][]=1&a[b][]=2`` -> ``{"a": {"b": ["1", "2"]}}``.

    ``+`` decodes to a space (send ``%2B`` for a plus). Arrays with keys 0..n-1 become lists.
    """
    result: dict[str, Any] = {}
    if not query:
        return result
    for part in query.split("&"):
        if not part:
            continue
        raw_key, _, raw_value = part.partition("=")
        split = _split_key(unquote_plus(raw_key))
        if split is None:
            continue
        base, segments = split
        value = unquote_plus(raw_value)
        path = [base, *segments]
        node = result
        for depth, seg in enumerate(path):
            last = depth == len(path) - 1
            name = _next_index(node) if seg == "" and depth > 0 else str(php_key(seg))
            if last:
                node[name] = value
            else:
                child = node.get(name)
                if not isinstance(child, dict):
                    child = {}
                    node[name] = child
                node = child
    return {k: _listify(v) for k, v in result.items()}


def _listify(value: Any) -> Any:
    if isinstance(value, dict):
        converted = {k: _listify(v) for k, v in value.items()}
        if converted and list(converted) == [str(i) for i in range(len(converted))]:
            return list(converted.values())
        return converted
    return value


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode
# Escapes are applied to UTF-8 bytes: ASCII bytes never occur inside multi-byte sequences.
_HEX = (
    (b"/", b"\\/"),
    (b"<", b"\\u003C"),
    (b">", b"\\u003E"),
    (b"&", b"\\u0026"),
    (b"'", b"\\u0027"),
)
# U+2028/U+2029 are looked for in the text (one character: far cheaper than 3 UTF-8 bytes).
_SEPARATORS = (("\u2028", "\u2028".encode(), b"\\u2028"), ("\u2029", "\u2029".encode(), b"\\u2029"))


def json_encode(value: Any) -> bytes:
    """``json_encode`` as Bitrix24 calls it (HEX_TAG|HEX_AMP|HEX_APOS|HEX_QUOT, raw unicode)."""
    text = _ENCODE(value)
    data = text.encode("utf-8")
    if b'\\"' in data:
        # A quote inside a string becomes \u0022; an escaped backslash before it must survive.
        if b"\\\\" in data:
            data = data.replace(b"\\\\", b"\0").replace(b'\\"', b"\\u0022").replace(b"\0", b"\\\\")
        else:
            data = data.replace(b'\\"', b"\\u0022")
    for plain, escaped in _HEX:
        data = data.replace(plain, escaped)
    for char, plain, escaped in _SEPARATORS:
        if char in text:
            data = data.replace(plain, escaped)
    return data


class Fragments:
    """A list of rows printed once into JSON fragments (it prints as a JSON array of them).

    ``row(i)`` builds row ``i`` as a dict, for the batch references that read into a page.
    """

    fragments: list[bytes]

    def __len__(self) -> int:
        return len(self.fragments)

    def row(self, index: int) -> Any:
        """Row ``index`` as a dict (None when out of range)."""
        raise NotImplementedError


def encode_tree(value: Any) -> bytes:
    """Like :func:`json_encode`, but dicts/lists may hold bytes leaves (pre-encoded JSON)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, Fragments):
        return b"[" + b",".join(value.fragments) + b"]"
    if isinstance(value, dict):
        if not _has_fragment(value.values()):
            return json_encode(value)
        parts = [json_encode(str(k)) + b":" + encode_tree(v) for k, v in value.items()]
        return b"{" + b",".join(parts) + b"}"
    if isinstance(value, list):
        if value and all(type(v) is bytes for v in value):
            return b"[" + b",".join(value) + b"]"
        if not _has_fragment(value):
            return json_encode(value)
        return b"[" + b",".join([encode_tree(v) for v in value]) + b"]"
    return json_encode(value)


def _has_fragment(values: Any) -> bool:
    for v in values:
        if isinstance(v, (bytes, Fragments)):
            return True
        if isinstance(v, dict):
            if _has_fragment(v.values()):
                return True
        elif isinstance(v, list) and _has_fragment(v):
            return True
    return False
