"""What the walk needs to know about one Bitrix24 list method, and nothing else.

Every list the tap walks (``crm.activity.list``, ``crm.item.list`` for each CRM type) pages the
same way: ``order`` by the ID, ``>ID`` keyset filters with ``start=-1``, 50 rows a page. They
differ only in names: the method, the ID and change-stamp fields (``ID``/``LAST_UPDATED`` vs
``id``/``updatedTime``), where the rows sit in ``result`` (the list itself vs
``result.items``) and extra parameters (``entityTypeId``). A :class:`ListSpec` holds those
names, so the survey, chains, ranges, ID walk and ``@ID`` re-reads are written once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PAGE_SIZE = 50


@dataclass(frozen=True)
class ListSpec:
    """One list method's names: ``method``, ID and change-stamp fields, rows' place, params."""

    method: str
    id_field: str = "ID"
    updated_field: str = "LAST_UPDATED"
    #: ``None``: ``result`` is the list of rows; else the key in ``result`` holding them.
    rows_key: str | None = None
    #: Parameters every call carries (``{"entityTypeId": 2}``).
    params: Mapping[str, Any] = field(default_factory=dict)
    #: The owner columns the deletion ID walk reads along (activities), if any.
    owner_fields: tuple[str, str] | None = None
    #: What a row is, for log lines ("activities", "deals").
    noun: str = "rows"

    def query(
        self, condition: Mapping[str, Any], select: list[str], start: int, order: str = "ASC"
    ) -> dict[str, Any]:
        """The parameters of one page."""
        return {
            **self.params,
            "order": {self.id_field: order},
            "filter": dict(condition),
            "select": select,
            "start": start,
        }

    def rows(self, answer: Any) -> list[dict[str, Any]] | None:
        """The rows of one command's ``result``; ``None`` when it holds no list."""
        if self.rows_key is not None:
            answer = answer.get(self.rows_key) if isinstance(answer, dict) else None
        return answer if isinstance(answer, list) else None

    def row_id(self, row: Mapping[str, Any]) -> int:
        """The row's ID as an integer (activities send it as text)."""
        return int(row[self.id_field])

    def last_id_ref(self, command: str) -> str:
        """The batch reference to the last ID of a full page of ``command``."""
        inner = f"[{self.rows_key}]" if self.rows_key else ""
        return f"$result[{command}]{inner}[{PAGE_SIZE - 1}][{self.id_field}]"

    @property
    def after_key(self) -> str:
        """The keyset cursor's filter key."""
        return f">{self.id_field}"

    @property
    def upto_key(self) -> str:
        """A bounded range's upper-end filter key."""
        return f"<={self.id_field}"

    @property
    def since_key(self) -> str:
        """The bookmark's filter key."""
        return f">={self.updated_field}"

    @property
    def in_key(self) -> str:
        """The filter key of an ID list (``@ID``)."""
        return f"@{self.id_field}"


ACTIVITY_LIST = ListSpec(
    "crm.activity.list", owner_fields=("OWNER_TYPE_ID", "OWNER_ID"), noun="activities"
)


def item_list(entity_type_id: int, noun: str) -> ListSpec:
    """``crm.item.list`` of one CRM type (deals 2, contacts 3, a smart process 1038, ...)."""
    return ListSpec(
        "crm.item.list",
        id_field="id",
        updated_field="updatedTime",
        rows_key="items",
        params={"entityTypeId": entity_type_id},
        noun=noun,
    )
