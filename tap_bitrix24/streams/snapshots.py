"""STATE for streams that keep a per-activity snapshot of what they emitted."""

from __future__ import annotations

from typing import Any, Protocol

from tap_bitrix24.errors import StateError

SNAPSHOT_KEY = "snapshot"


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
    version: int

    def __len__(self) -> int: ...

    def encode(self) -> str: ...


class SnapshotCheckpoints:
    """The snapshot travels with the walk's cursor, so a resumed walk computes the same diff.

    How often STATE goes out is the run's STATE budget's call (``streams/checkpoints.py``).
    Encoding takes seconds for millions of entries (2 s for 2 million bindings), so an
    unchanged snapshot keeps its last encoding.
    """

    @property
    def snapshot(self) -> _Encodable:
        """What the stream last emitted per activity (the subclass loads it from STATE)."""
        raise NotImplementedError

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._encoded: tuple[int, str] | None = None  # (snapshot version, its encoding)

    def checkpoint(self, state: dict[str, Any]) -> None:
        """Put the snapshot into the STATE about to be emitted."""
        snapshot = self.snapshot
        if self._encoded is None or self._encoded[0] != snapshot.version:
            self._encoded = (snapshot.version, snapshot.encode())
        state[SNAPSHOT_KEY] = self._encoded[1]
