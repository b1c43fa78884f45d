"""The paginator Bitrix24's own examples use: follow the response's ``next`` offset.

It stops when ``next`` is absent, never on an empty page: an out-of-range ``start`` makes a
real portal return the first page again.
"""

from __future__ import annotations

import requests
from singer_sdk.pagination import BaseAPIPaginator
from typing_extensions import override

from tap_bitrix24.client.transport import Bitrix24Client


class NextOffsetPaginator(BaseAPIPaginator[int]):
    """Page token = the ``start`` offset; the next one is the response's ``next``."""

    def __init__(self) -> None:
        super().__init__(0)
        self.total: int | None = None

    @override
    def has_more(self, response: requests.Response) -> bool:
        """More pages exist only while the portal sends ``next``."""
        body = Bitrix24Client.json(response)
        if isinstance(body.get("total"), int):
            self.total = body["total"]
        return body.get("next") is not None

    @override
    def get_next(self, response: requests.Response) -> int | None:
        """The offset of the next page."""
        value = Bitrix24Client.json(response).get("next")
        return int(value) if value is not None else None
