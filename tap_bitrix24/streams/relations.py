"""Base of the relation streams (``product_rows``, ``stage_history``): one partition per CRM type.

Both read something of each CRM type that has it, so each is partitioned by ``entityTypeId``
over the types the portal has (from discovery), minus the types that have no such relation;
their rows come through the list engine's keyset walk (:func:`~tap_bitrix24.streams.walking.
keyset_pages`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from typing_extensions import override

from tap_bitrix24.streams.base import Bitrix24Stream

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


class TypeRelationStream(Bitrix24Stream):
    """A stream partitioned by CRM type: every type the portal has but ``WITHOUT``."""

    #: entityTypeIds that have none of the stream's rows.
    WITHOUT: ClassVar[frozenset[int]] = frozenset()

    @property
    @override
    def partitions(self) -> list[dict[str, Any]] | None:
        """One partition per CRM type with rows of this kind."""
        types = {t.entity_type_id for t, _ in self._bitrix_tap.item_types.values()}
        return [{"entityTypeId": t} for t in sorted(types - self.WITHOUT)]

    @staticmethod
    def entity_type(context: Context | None) -> int:
        """The partition's CRM type."""
        return int((context or {})["entityTypeId"])
