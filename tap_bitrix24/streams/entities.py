"""Which CRM entities (leads, deals, contacts, companies, ...) still exist.

A merge of CRM entities deletes the merged-away one after moving its activities, bindings and
communications without touching LAST_UPDATED. Streams that remember the entities they emitted
ask which still exist: ``crm.item.list`` by ``@id``, 50 IDs a command, 50 commands a batch
(2,500 entities a request).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tap_bitrix24.client.batch import MAX_COMMANDS, BatchCall, BatchResult

ITEM_METHOD = "crm.item.list"
ITEM_PAGE = 50

Entity = tuple[int, int]  # (entity type ID, entity ID)


def existing_entities(
    entities: Iterable[Entity], send_batch: Callable[[BatchCall], BatchResult]
) -> set[Entity]:
    """The subset of ``entities`` that exists; ``send_batch`` runs one batch.

    An entity type the portal cannot list counts as existing (nothing is re-read for it).
    """
    by_type: dict[int, list[int]] = {}
    for entity_type, entity_id in sorted(set(entities)):
        by_type.setdefault(entity_type, []).append(entity_id)
    calls = [
        (entity_type, ids[k : k + ITEM_PAGE])
        for entity_type, ids in by_type.items()
        for k in range(0, len(ids), ITEM_PAGE)
    ]
    found: set[Entity] = set()
    for start in range(0, len(calls), MAX_COMMANDS):
        part = calls[start : start + MAX_COMMANDS]
        call = BatchCall(
            {
                f"e{k}": (
                    ITEM_METHOD,
                    # start -1: no COUNT (a counted page costs in proportion to the matches)
                    {"entityTypeId": t, "filter": {"@id": ids}, "select": ["id"], "start": -1},
                )
                for k, (t, ids) in enumerate(part)
            }
        )
        result = send_batch(call)
        for k, (entity_type, ids) in enumerate(part):
            answer = result.result.get(f"e{k}")
            items = answer.get("items") if isinstance(answer, dict) else None
            if f"e{k}" in result.errors or not isinstance(items, list):
                found.update((entity_type, i) for i in ids)
                continue
            found.update((entity_type, int(item["id"])) for item in items if isinstance(item, dict))
    return found


def gone_entities(
    candidates: set[Entity], send_batch: Callable[[BatchCall], BatchResult]
) -> set[Entity]:
    """The candidates that no longer exist."""
    if not candidates:
        return set()
    return candidates - existing_entities(candidates, send_batch)
