"""Keyset walks: ``>ID`` pages with ``start=-1``, chained 50 to a ``batch`` request.

Command *k* of a chain filters ``>ID`` on ``$result[p(k-1)][49][ID]`` (``…[items][49][id]`` for
``crm.item.list``: see :class:`~tap_bitrix24.walk.listspec.ListSpec`), the last ID of the page
before it, so one HTTP request reads up to 2,500 rows without a COUNT query. After a page
shorter than 50 rows (or a failed command) the next reference cannot resolve and the server
would restart near the beginning, so every later command of that batch is ignored.

:class:`KeysetWalker` walks several disjoint ID ranges at once, one chain in flight per range,
and splits the largest remaining range when a worker runs dry. Each yielded :class:`Step`
carries the range's new cursor, which is what STATE stores to resume without starting over.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from tap_bitrix24.client.batch import MAX_COMMANDS, BatchCall, BatchResult
from tap_bitrix24.walk.listspec import ACTIVITY_LIST, PAGE_SIZE, ListSpec


@dataclass
class KeyRange:
    """IDs in ``(after, upto]``; ``upto=None`` is open-ended (new inserts land there)."""

    after: int
    upto: int | None = None

    def to_state(self) -> list[int | None]:
        """Compact STATE form."""
        return [self.after, self.upto]

    @classmethod
    def from_state(cls, value: Any) -> KeyRange:
        """Read the STATE form back; raises ValueError when it is not one."""
        after, upto = value
        if isinstance(after, bool) or not isinstance(after, int):
            raise ValueError("range start is not an integer")
        if upto is not None and (isinstance(upto, bool) or not isinstance(upto, int)):
            raise ValueError("range end is not an integer")
        return cls(after, upto)


@dataclass
class Chain:
    """What one chained batch read."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    last_id: int | None = None
    exhausted: bool = False
    pages: int = 0


def chain_commands(
    key_range: KeyRange,
    base_filter: Mapping[str, Any],
    select: list[str],
    pages: int = MAX_COMMANDS,
    spec: ListSpec = ACTIVITY_LIST,
) -> BatchCall:
    """The chained batch of one range, commands named ``p0`` … ``p49`` (never numbers)."""
    commands: dict[str, tuple[str, dict[str, Any]]] = {}
    for k in range(pages):
        condition = dict(base_filter)
        condition[spec.after_key] = key_range.after if k == 0 else spec.last_id_ref(f"p{k - 1}")
        if key_range.upto is not None:
            condition[spec.upto_key] = key_range.upto
        commands[f"p{k}"] = (spec.method, spec.query(condition, select, -1))
    return BatchCall(commands, chained=True)


def read_chain(result: BatchResult, names: list[str], spec: ListSpec = ACTIVITY_LIST) -> Chain:
    """Collect rows page by page until a short page or a failed command."""
    chain = Chain()
    for name in names:
        page = spec.rows(result.result.get(name))
        if name in result.errors or page is None:
            return chain  # later commands used an unresolved reference: ignore them
        chain.pages += 1
        chain.rows.extend(page)
        if page:
            chain.last_id = spec.row_id(page[-1])
        if len(page) < PAGE_SIZE:
            chain.exhausted = True
            return chain
    return chain


@dataclass
class Step:
    """One chain's rows, and the state of its range afterwards (``None`` when done)."""

    slot: int
    rows: list[dict[str, Any]]
    remaining: KeyRange | None


def split_span(low: int, high: int, parts: int) -> list[KeyRange]:
    """Split IDs ``(low, high]`` into ``parts`` ranges; the last one stays open-ended."""
    parts = max(1, min(parts, max(1, (high - low) // PAGE_SIZE)))
    width = (high - low) // parts
    bounds = [low + width * i for i in range(parts)] + [None]
    return [KeyRange(low + width * i, bounds[i + 1]) for i in range(parts)]


class KeysetWalker:
    """Walk ranges with up to ``workers`` chains in flight; yield :class:`Step` in arrival order.

    ``fetch(range)`` performs one chained batch for a range and returns its :class:`Chain`.
    ``ranges`` is a dict slot -> range that the walker keeps current (STATE reads it).
    """

    def __init__(
        self,
        fetch: Callable[[KeyRange], Chain],
        ranges: list[KeyRange],
        *,
        workers: int = 1,
        chain_span: int = PAGE_SIZE * MAX_COMMANDS,
        row_id: Callable[[Mapping[str, Any]], int] = ACTIVITY_LIST.row_id,
    ) -> None:
        self._fetch = fetch
        self._row_id = row_id
        self._chain_span = max(1, chain_span)  # IDs one chained batch covers, on average
        self.ranges: dict[int, KeyRange] = dict(enumerate(ranges))
        self._next_slot = len(ranges)
        self._workers = max(1, workers)
        self._lock = threading.Lock()

    def _steal(self, busy: set[int]) -> int | None:
        """Split the widest bounded range for an idle worker; return the new slot.

        The split point lies beyond what the range's chain in flight can reach (``chain_span``
        IDs), so no page is read twice; ranges shorter than three chains are left alone.
        """
        reach = int(self._chain_span * 1.2)
        candidates = [
            (r.upto - r.after, slot)
            for slot, r in self.ranges.items()
            if r.upto is not None and r.upto - r.after > 3 * self._chain_span
        ]
        if not candidates:
            return None
        _, slot = max(candidates)
        old = self.ranges[slot]
        assert old.upto is not None
        middle = old.after + max((old.upto - old.after) // 2, reach)
        self.ranges[slot] = KeyRange(old.after, middle)
        new_slot = self._next_slot
        self._next_slot += 1
        self.ranges[new_slot] = KeyRange(middle, old.upto)
        return new_slot

    def __iter__(self) -> Iterator[Step]:
        """Run the walk; each step's rows are complete pages in ID order within the range."""
        with ThreadPoolExecutor(self._workers, thread_name_prefix="keyset") as pool:
            running: dict[Future[Chain], tuple[int, KeyRange]] = {}

            def launch() -> None:
                busy = {slot for slot, _ in running.values()}
                idle = [s for s in self.ranges if s not in busy]
                slot: int | None
                while len(running) < self._workers:
                    if idle:
                        slot = idle.pop(0)
                    else:
                        slot = self._steal(busy)
                        if slot is None:
                            return
                    sent = KeyRange(self.ranges[slot].after, self.ranges[slot].upto)
                    running[pool.submit(self._fetch, sent)] = (slot, sent)
                    busy.add(slot)

            launch()
            try:
                while running:
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        slot, sent = running.pop(future)
                        step = self._settle(slot, sent, chain=future.result())
                        # The range's next chain goes out before its rows are handed over: the
                        # portal works while the caller types and writes them. A range's cursor
                        # moves only as its own step is yielded, so STATE taken after a step
                        # never covers rows not yet handed over.
                        launch()
                        yield step
            finally:
                for future in running:
                    future.cancel()

    def _settle(self, slot: int, sent: KeyRange, chain: Chain) -> Step:
        current = self.ranges[slot]
        rows = chain.rows
        exhausted = chain.exhausted
        if current.upto is not None and (sent.upto is None or current.upto < sent.upto):
            # The range was split while this chain was in flight: keep only our half.
            kept = [row for row in rows if self._row_id(row) <= current.upto]
            if len(kept) < len(rows):
                exhausted = True
            rows = kept
        last_id = self._row_id(rows[-1]) if rows else chain.last_id
        if exhausted or (last_id is None and not rows):
            del self.ranges[slot]
            return Step(slot, rows, None)
        if last_id is not None:
            current.after = max(current.after, last_id)
        return Step(slot, rows, current)
