"""Test hooks under ``/_emulator/``: plain JSON in and out, no auth (it is a local test portal).

Each route calls the Portal method of the same meaning, so Python tests and HTTP tests see the
same behaviour.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

if TYPE_CHECKING:
    from .portal import Portal

Handler = Callable[["Portal", dict[str, Any]], Any]


def _faults(portal: Portal, body: dict[str, Any]) -> Any:
    faults = body.get("faults")
    if not isinstance(faults, list):
        raise ValueError('body must be {"faults": [...]}')
    return {"faults": portal.add_faults(faults)}


def _ok(action: Callable[[], Any]) -> Any:
    result = action()
    return {"ok": True} if result is None else result


ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "stats"): lambda p, b: p.stats(),
    ("POST", "stats/reset"): lambda p, b: _ok(lambda: p.reset_stats(**b)),
    ("POST", "limits/reset"): lambda p, b: _ok(p.reset_limits),
    ("GET", "truth"): lambda p, b: p.truth(),
    ("GET", "truth/communications"): lambda p, b: p.truth_communications(),
    ("GET", "truth/items"): lambda p, b: p.truth_items(**b),
    ("GET", "truth/dictionaries"): lambda p, b: p.truth_dictionaries(**b),
    ("POST", "merge"): lambda p, b: p.merge(**b),
    ("POST", "mutate"): lambda p, b: p.mutate(**b),
    ("POST", "schedule"): lambda p, b: p.schedule(**b),
    ("DELETE", "schedule"): lambda p, b: _ok(p.clear_schedules),
    ("GET", "faults"): lambda p, b: {"faults": p.faults.describe()},
    ("POST", "faults"): _faults,
    ("DELETE", "faults"): lambda p, b: _ok(p.clear_faults),
    ("GET", "config"): lambda p, b: p.configure(),
    ("POST", "config"): lambda p, b: p.configure(**b),
    ("POST", "oauth/grant"): lambda p, b: p.grant_oauth(),
    ("POST", "oauth/expire"): lambda p, b: p.expire_tokens(),
    ("POST", "oauth/revoke"): lambda p, b: p.revoke_tokens(),
}


def handle_control(
    portal: Portal, http_method: str, path: str, body: bytes, query: str = ""
) -> tuple[int, bytes]:
    """Answer ``/_emulator/<route>``: (status, JSON body); query parameters join the body."""
    route = path[len("/_emulator/") :].strip("/")
    handler = ROUTES.get((http_method, route))
    if handler is None:
        known = any(r == route for _, r in ROUTES)
        status = 405 if known else 404
        return status, _dump({"error": f"no such control route: {http_method} /_emulator/{route}"})
    try:
        payload = json.loads(body.decode("utf-8")) if body.strip() else {}
    except (UnicodeDecodeError, ValueError):
        return 400, _dump({"error": "body must be JSON"})
    if not isinstance(payload, dict):
        return 400, _dump({"error": "body must be a JSON object"})
    for key, value in parse_qsl(query):
        payload.setdefault(key, value)
    try:
        return 200, _dump(handler(portal, payload))
    except (ValueError, TypeError) as exc:
        return 400, _dump({"error": str(exc)})


def _dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")
