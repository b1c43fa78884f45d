"""Every use of a private singer-sdk member, in one place.

singer-sdk has no public way to do these. ``tests/unit/test_sdk_private.py`` checks each one on
the installed SDK (names, signatures, logger), so an SDK upgrade that renames or removes one
fails a unit test instead of a sync. Nothing else in the tap may use SDK privates (that test
also scans the tap's sources).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from singer_sdk import Tap
from typing_extensions import override

from tap_bitrix24.settings import check_schema, read_numbers

if TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context
    from singer_sdk.streams import RESTStream, Stream

# ``singer_sdk.helpers._state`` logs this warning on this logger when a stream with
# ``is_sorted = False`` gets its first bookmark. Keyset walks resume from their own ``walk``
# STATE, so the tap filters the misleading message out (see ``tap._hide_unsorted_warning``).
STATE_LOGGER = "singer_sdk"
UNSORTED_WARNING = "Stream is assumed to be unsorted"


def write_state_message(stream: Stream) -> None:
    """Emit the stream's STATE now (``Stream._write_state_message``).

    Keyset walks emit STATE after every chained batch, when the cursor in it is true; the SDK
    alone writes STATE only every ``STATE_MSG_FREQUENCY`` records and at the stream's end.
    """
    stream._write_state_message()


def send_once(
    stream: RESTStream, prepared: requests.PreparedRequest, context: Context | None
) -> requests.Response:
    """One attempt through the SDK's ``_request`` (session, auth, timeout, metrics, checks).

    For calls whose retry policy differs from the stream's (a survey COUNT tried once), the
    client wraps this single attempt in its own loop instead of ``request_decorator``.
    """
    return stream._request(prepared, context)


class ConfigCheckingTap(Tap):
    """The SDK's Tap, reading numeric strings as numbers before it validates the config.

    Meltano passes numbers set through environment variables as strings (``kind: string``:
    Meltano 4.4 cannot pass ``kind: decimal`` from the environment). ``_validate_config`` is the
    only hook between loading the config and validating it. Errors name the setting in one line.
    """

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        self._config = read_numbers(self._config)
        if raise_errors:
            check_schema(self._config)
        return super()._validate_config(raise_errors=raise_errors)
