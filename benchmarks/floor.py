#!/usr/bin/env python3
"""The floor under the tap's CPU per record: the same walk and records with no Singer SDK at all.

    python benchmarks/floor.py WEBHOOK [--stream activities|deals] [--comms] [--files]

Issues the tap's own keyset requests (the survey, then chained ``>ID`` batches over parallel ID
ranges: :mod:`tap_bitrix24.walk`) with ``requests``, decodes each response with msgspec, types
each row with the tap's own converter (``RecordConverter``, ``ItemConverter``) and writes one
Singer RECORD line per row with msgspec (``decimal_format="number"``, as the SDK's msgspec
writer), one write per batch, to stdout. What the tap spends above this process's CPU per record
is the price of the SDK's per-record path and of our glue. ``tap_cpu.py`` runs it and measures
it from outside like the tap. It never imports singer_sdk (it checks, and fails if it did).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import types
from datetime import datetime, timezone
from typing import Any

import msgspec
import requests
from requests.adapters import HTTPAdapter


def _bare_package(name: str) -> None:
    """Make ``name``'s submodules importable without running its ``__init__``.

    ``tap_bitrix24.client``'s ``__init__`` imports the transport, which is built on the SDK;
    the floor needs only its ``batch`` and ``redact`` modules.
    """
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations is not None
    package = types.ModuleType(name)
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules[name] = package


_bare_package("tap_bitrix24.client")

from tap_bitrix24.client.batch import MAX_COMMANDS, BatchCall, BatchResult  # noqa: E402
from tap_bitrix24.streams.item_schema import ItemConverter, item_schema  # noqa: E402
from tap_bitrix24.streams.schema import RecordConverter, build_schema  # noqa: E402
from tap_bitrix24.walk.keyset import (  # noqa: E402
    Chain,
    KeyRange,
    KeysetWalker,
    chain_commands,
    read_chain,
    split_span,
)
from tap_bitrix24.walk.listspec import ACTIVITY_LIST, PAGE_SIZE, ListSpec, item_list  # noqa: E402
from tap_bitrix24.walk.survey import pages_for, read_survey, survey_call  # noqa: E402

DEALS = 2
EXTRAS = ("IS_INCOMING_CHANNEL", "COMMUNICATIONS", "FILES")


class Portal:
    """POSTs JSON to the webhook; answers decoded with msgspec, as the tap's transport does."""

    def __init__(self, webhook: str, workers: int) -> None:
        self.base = webhook.rstrip("/") + "/"
        self.session = requests.Session()
        self.session.mount("http", HTTPAdapter(pool_maxsize=max(10, workers * 2)))
        self.decoder = msgspec.json.Decoder()

    def call(self, method: str, params: dict[str, Any]) -> Any:
        response = self.session.post(self.base + method, json=params, timeout=90)
        response.raise_for_status()
        return self.decoder.decode(response.content)

    def batch(self, call: BatchCall) -> BatchResult:
        return BatchResult.from_body(self.call("batch", call.body()))


def stream_setup(
    portal: Portal, stream: str, comms: bool, files: bool
) -> tuple[ListSpec, list[str], Any]:
    """The list spec, the select and the converter the tap would use (default catalog)."""
    if stream == "activities":
        fields = portal.call("crm.activity.fields", {})["result"]
        schema = build_schema(fields, include_communications=comms, include_files=files)
        props = schema["properties"]
        return ACTIVITY_LIST, ["*", *(f for f in EXTRAS if f in props)], RecordConverter(schema)
    fields = portal.call("crm.item.fields", {"entityTypeId": DEALS})["result"]["fields"]
    schema = item_schema(fields, DEALS, "deals")
    select = sorted({"id", "updatedTime", *schema["properties"]})
    return item_list(DEALS, stream), select, ItemConverter(fields, schema)


def main() -> int:
    """Walk, convert, write; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("webhook")
    parser.add_argument("--stream", choices=["activities", "deals"], default="activities")
    parser.add_argument("--comms", action="store_true", help="include_communications")
    parser.add_argument("--files", action="store_true", help="include_files")
    parser.add_argument("--workers", type=int, default=6, help="max_parallel_requests")
    args = parser.parse_args()

    portal = Portal(args.webhook, args.workers)
    spec, select, convert = stream_setup(portal, args.stream, args.comms, args.files)
    survey = read_survey(spec, portal.batch(survey_call(spec, {}, count=False)), count=False)
    density = high = None
    ranges = [KeyRange(0, None)]
    if survey is not None and args.workers > 1:
        density, high = survey.density, survey.high
        if not survey.at_most(PAGE_SIZE * MAX_COMMANDS):
            ranges = split_span(survey.low - 1, survey.high, survey.parts(args.workers))

    def fetch(key_range: KeyRange) -> Chain:
        call = chain_commands(
            key_range, {}, select, pages=pages_for(key_range, density, high), spec=spec
        )
        return read_chain(portal.batch(call), call.names, spec)

    walker = KeysetWalker(
        fetch,
        ranges,
        workers=args.workers,
        chain_span=int(PAGE_SIZE * MAX_COMMANDS / density) if density else PAGE_SIZE * MAX_COMMANDS,
        row_id=spec.row_id,
    )
    encoder = msgspec.json.Encoder(decimal_format="number")
    out = sys.stdout.buffer
    buffer = bytearray()
    name = args.stream
    for step in walker:
        extracted = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # as the SDK
        buffer.clear()
        for row in step.rows:
            message = {
                "type": "RECORD",
                "stream": name,
                "record": convert(row),
                "time_extracted": extracted,
            }
            encoder.encode_into(message, buffer, len(buffer))
            buffer += b"\n"
        out.write(buffer)
    out.flush()
    if "singer_sdk" in sys.modules:
        print("floor.py imported singer_sdk: the floor is not SDK-free", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
