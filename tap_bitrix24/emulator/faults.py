"""Scripted failures, so a client's error handling can be tested deterministically.

A fault watches "events" -- REST requests whose method matches (``method`` null = any request), and
for error kinds aimed at a method, also that method's sub-calls inside ``batch`` (they fail in
``result_error`` of an HTTP 200). ``subcall_*`` kinds watch only sub-calls (``method`` null = any
sub-call; ``index`` optionally picks the command position). After ``after_requests`` events it fires
on every ``every``-th event, ``count`` times. Faults are checked in the order they were added; an
event that fires one fault is not seen by later ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

KINDS = frozenset(
    {
        "503",
        "429",
        "500",
        "502_html",
        "drop",
        "truncate",
        "slow",
        "expire_token",
        "overload",
        "access_denied",
        "subcall_429",
        "subcall_500",
        "html_200",
    }
)
SUBCALL_ONLY = frozenset({"subcall_429", "subcall_500"})
# Kinds that can hit a sub-call (when aimed at its method).
SUBCALL_CAPABLE = (
    frozenset({"503", "429", "500", "overload", "access_denied", "slow"}) | SUBCALL_ONLY
)
ERROR_CODE = {
    "503": "QUERY_LIMIT_EXCEEDED",
    "429": "OPERATION_TIME_LIMIT",
    "500": "INTERNAL_SERVER_ERROR",
    "overload": "OVERLOAD_LIMIT",
    "access_denied": "ACCESS_DENIED",
    "subcall_429": "OPERATION_TIME_LIMIT",
    "subcall_500": "INTERNAL_SERVER_ERROR",
}

BAD_GATEWAY_HTML = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
GATEWAY_TIMEOUT_HTML = (
    b"<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n"
    b"<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
FOREIGN_HTML = (
    b"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Welcome</title></head>"
    b"<body><h1>It works!</h1><p>This is not a Bitrix24 portal.</p></body></html>"
)


@dataclass
class Fault:
    """One scripted failure and its counters."""

    kind: str
    count: int = 1
    after_requests: int = 0
    every: int = 1
    method: str | None = None
    seconds: float | None = None
    index: int | None = None
    seen: int = 0
    fired: int = 0

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Fault:
        """Validate a JSON spec; ValueError on nonsense."""
        if not isinstance(spec, dict):
            raise ValueError("a fault must be an object")
        kind = str(spec.get("kind", ""))
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind: {kind!r}")
        unknown = set(spec) - {
            "kind",
            "count",
            "after_requests",
            "every",
            "method",
            "seconds",
            "index",
        }
        if unknown:
            raise ValueError(f"unknown fault keys: {sorted(unknown)}")
        fault = cls(kind)
        fault.count = _int(spec, "count", 1, 1)
        fault.after_requests = _int(spec, "after_requests", 0, 0)
        fault.every = _int(spec, "every", 1, 1)
        method = spec.get("method")
        if method is not None and not isinstance(method, str):
            raise ValueError("method must be a string or null")
        fault.method = method.lower() if method else None
        seconds = spec.get("seconds")
        if seconds is not None:
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
                raise ValueError("seconds must be a non-negative number")
            seconds = float(seconds)
        fault.seconds = seconds
        index = spec.get("index")
        if index is not None and (isinstance(index, bool) or not isinstance(index, int)):
            raise ValueError("index must be an integer")
        fault.index = index
        return fault

    def _fires(self) -> bool:
        self.seen += 1
        if self.fired >= self.count:
            return False
        nth = self.seen - self.after_requests
        if nth <= 0 or (nth - 1) % self.every:
            return False
        self.fired += 1
        return True

    @property
    def exhausted(self) -> bool:
        """Fired its count already."""
        return self.fired >= self.count


def _int(spec: dict[str, Any], key: str, default: int, minimum: int) -> int:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{key} must be an integer >= {minimum}")
    return value


class FaultBook:
    """The active faults."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def add(self, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Append faults (all validated before any is added)."""
        parsed = [Fault.from_spec(spec) for spec in specs]
        self.faults.extend(parsed)
        return [asdict(f) for f in parsed]

    def clear(self) -> None:
        """Remove all faults."""
        self.faults.clear()

    def for_request(self, method: str) -> Fault | None:
        """The fault (if any) that fires on this HTTP request."""
        for fault in self.faults:
            if fault.exhausted or fault.kind in SUBCALL_ONLY:
                continue
            if fault.method is not None and fault.method != method:
                continue
            if fault._fires():
                return fault
        return None

    def for_subcall(self, method: str, index: int) -> Fault | None:
        """The fault (if any) that fires on this batch sub-call."""
        for fault in self.faults:
            if fault.exhausted or fault.kind not in SUBCALL_CAPABLE:
                continue
            if fault.kind in SUBCALL_ONLY:
                if fault.method is not None and fault.method != method:
                    continue
            elif fault.method is None or fault.method != method or method == "batch":
                continue
            if fault.index is not None and fault.index != index:
                continue
            if fault._fires():
                return fault
        return None

    def armed_reset(self, method: str, default_seconds: float) -> float | None:
        """Seconds until the reset a pending OPERATION_TIME_LIMIT fault on `method` announces."""
        found = None
        for fault in self.faults:
            if fault.exhausted or fault.kind not in ("429", "subcall_429"):
                continue
            if fault.method is not None and fault.method != method:
                continue
            seconds = fault.seconds if fault.seconds is not None else default_seconds
            found = seconds if found is None else min(found, seconds)
        return found

    def describe(self) -> list[dict[str, Any]]:
        """Current faults with their counters."""
        return [asdict(f) for f in self.faults]
