"""Every use of a private singer-sdk member, in one place.

singer-sdk has no public way to do these. ``tests/unit/test_sdk_private.py`` checks each one on
the installed SDK (names, signatures, logger), so an SDK upgrade that renames or removes one
fails a unit test instead of a sync. Nothing else in the tap may use SDK privates (that test
also scans the tap's sources).
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream, Tap
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.singerlib import RecordMessage
from typing_extensions import override

from tap_bitrix24.settings import check_schema, read_numbers

if TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context
    from singer_sdk.streams import RESTStream

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


class PreparedRecordsStream(Stream):
    """A stream whose records can skip the SDK's per-record pruning when they need none.

    For every record the SDK walks the record against the catalog's selection mask
    (``pop_deselected_record_properties``, a tuple and a lookup per property and per key of every
    nested object) before it conforms the types and applies the stream maps: a third of the
    tap's CPU per record. A stream whose records are built from its selected properties only,
    and typed already, answers True in :meth:`records_prepared`; its records then go straight to
    the stream maps and into the same RECORD message the SDK builds
    (``_generate_record_messages``, the one override here). ``tests/tap/test_record_path.py``
    checks that the tap's output is byte for byte the SDK path's.
    """

    def records_prepared(self) -> bool:
        """True when pruning and conforming would leave every record unchanged."""
        return False

    @override
    def _generate_record_messages(
        self, record: dict[str, Any]
    ) -> Generator[RecordMessage, None, None]:
        if not self.records_prepared():
            yield from super()._generate_record_messages(record)
            return
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=self._stream_version,
                    time_extracted=datetime.now(timezone.utc),  # the SDK's utc_now()
                )


def nothing_to_prune(stream: Stream) -> bool:
    """Whether the SDK's pruning is a no-op for records of selected, typed top-level properties.

    It is when types need no conforming and no property below the top level is deselected
    (pruning recurses only into objects, and only deselection removes anything).
    """
    return stream.TYPE_CONFORMANCE_LEVEL is TypeConformanceLevel.NONE and all(
        selected for breadcrumb, selected in stream.mask.items() if len(breadcrumb) > 2
    )
