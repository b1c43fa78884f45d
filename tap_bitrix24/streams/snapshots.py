"""STATE pacing for streams that keep a per-activity snapshot of what they emitted."""

from __future__ import annotations

import time
from typing import Any, Protocol

from tap_bitrix24.errors import StateError

SNAPSHOT_KEY = "snapshot"
SMALL_SNAPSHOT = 20_000  # activities; below this the snapshot encodes in milliseconds
CHECKPOINT_EVERY = 60.0  # seconds between STATE messages once the snapshot is big


def load_snapshot(decode: Any, state: dict[str, Any], stream: str) -> Any:
    """The saved snapshot, decoded with ``decode``; a garbled one says how to reset."""
    try:
        return decode(state.get(SNAPSHOT_KEY))
    except ValueError as exc:
        raise StateError(
            f"the saved snapshot of stream '{stream}' is unreadable ({exc}); "
            "clear the state (e.g. `meltano state clear`) to start over"
        ) from None


class _Encodable(Protocol):
    def __len__(self) -> int: ...

    def encode(self) -> str: ...


class SnapshotCheckpoints:
    """Emit STATE at most once a minute once the snapshot is big.

    Encoding it takes seconds for millions of entries (2 s for 2 million bindings); a resumed
    walk re-reads what came after the last STATE. The snapshot travels with the cursor, so a
    resumed walk computes the same diff.
    """

    snapshot: _Encodable

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_checkpoint = time.monotonic()

    def checkpoint_due(self) -> bool:
        """Whether this batch's STATE goes out."""
        now = time.monotonic()
        if len(self.snapshot) > SMALL_SNAPSHOT and now - self._last_checkpoint < CHECKPOINT_EVERY:
            return False
        self._last_checkpoint = now
        return True

    def checkpoint(self, state: dict[str, Any]) -> None:
        """Put the snapshot into the STATE about to be emitted."""
        state[SNAPSHOT_KEY] = self.snapshot.encode()
