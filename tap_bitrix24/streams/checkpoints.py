"""How many bytes of STATE a run may emit while it walks, and how big one STATE is.

Every STATE carries the whole tap state: next to a walk's small cursors ride the deletion
lists (``known_ids``) and the bindings ``snapshot`` (10 MB for 2 million bindings). Emitted
after every batch, they would push gigabytes through the target and Meltano's system database
on a large run. So a run's walk checkpoints share one budget: ``STATE_FLOOR_BYTES`` plus
``STATE_SHARE`` of the bytes read from the portal. A small STATE therefore still goes out after
every batch; a big one is spaced out in proportion to the data read. A skipped checkpoint loses
nothing: a resumed walk re-reads from the last STATE that went out.
"""

from __future__ import annotations

import json
import weakref
from dataclasses import dataclass
from typing import Any

STATE_FLOOR_BYTES = 1 << 20  # every run may spend this much on walk checkpoints
STATE_SHARE = 0.1  # plus this share of the bytes read from the portal
_LONG = 4096  # strings longer than this are encodings: sized without re-encoding them


@dataclass
class StateBudget:
    """The walk checkpoints of one run: bytes spent against the allowance."""

    floor: int = STATE_FLOOR_BYTES
    share: float = STATE_SHARE
    spent: int = 0
    checkpoints: int = 0
    skipped: int = 0

    def allows(self, size: int, received: int) -> bool:
        """Whether a STATE of ``size`` bytes fits, after ``received`` bytes read this run."""
        if self.spent + size <= self.floor + self.share * received:
            return True
        self.skipped += 1
        return False

    def spend(self, size: int) -> None:
        """Count one STATE that went out."""
        self.spent += size
        self.checkpoints += 1


_budgets: weakref.WeakKeyDictionary[Any, StateBudget] = weakref.WeakKeyDictionary()


def budget_of(owner: Any) -> StateBudget:
    """The one budget of a run (keyed on the tap, which all its streams share)."""
    budget = _budgets.get(owner)
    if budget is None:
        budget = _budgets[owner] = StateBudget(STATE_FLOOR_BYTES, STATE_SHARE)
    return budget


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact JSON; long strings (base64 encodings) count as they are.

    Runs after every batch, so the megabytes of ``known_ids`` and ``snapshot`` that ride along
    are sized by their length instead of being encoded again.
    """
    if isinstance(value, str) and len(value) > _LONG:
        return len(value) + 2
    if isinstance(value, dict):
        if not value:
            return 2
        return 1 + sum(json_size(str(k)) + 1 + json_size(v) + 1 for k, v in value.items())
    if isinstance(value, list):
        return 1 + sum(json_size(v) + 1 for v in value) if value else 2
    return len(json.dumps(value, separators=(",", ":")))
