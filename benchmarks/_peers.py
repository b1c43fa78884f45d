"""One peer library reading every activity or deal, run as a benchmark's measured child process.

Usage (inside the benchmark venv)::

    python benchmarks/_peers.py {b24pysdk-fast|b24pysdk-list|fast-bitrix24} WEBHOOK TIME_FACTOR IDS
    python benchmarks/_peers.py b24pysdk-fast-deals WEBHOOK TIME_FACTOR IDS   # crm.item.list

Prints ``ROWS <n>`` lines while it reads (where the library streams) and ``DONE <n>`` at the end
on stdout; on failure one ``ERROR <type>: <message>`` line and exit status 1. The ID of every row
delivered goes to the file IDS, one per line (duplicates kept), so the benchmark can check them
against the emulator's truth; the rows themselves are dropped as soon as the library lets go.
"""

from __future__ import annotations

import json
import re
import sys
import time
import urllib.request
from collections.abc import Iterable
from typing import TextIO
from urllib.parse import urlsplit

SELECT = ["*"]  # the default select, the same 39 fields the tap reads
PROGRESS_EVERY = 2500  # rows between ROWS lines (one keyset batch)


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _b24pysdk_client(webhook: str, time_factor: float):
    """A b24pysdk client aimed at the local http emulator (its base URL is hard-coded https)."""
    from b24pysdk import BitrixWebhook, Client
    from b24pysdk.api.callers.call_method import _MethodCaller

    _MethodCaller._base_url = property(lambda self: f"http://{self._domain}/rest")
    parts = urlsplit(webhook)
    match = re.match(r"^/rest/(\d+)/([^/]+)/?$", parts.path)
    if not match:
        raise SystemExit(f"ERROR bad webhook URL {webhook!r}")
    token = BitrixWebhook(domain=parts.netloc, webhook_token=f"{match[1]}/{match[2]}")
    # Its only pacing is a retry on HTTP 503: 1 s, then +1 s per retry; scale those like time.
    return Client(
        token,
        initial_retry_delay=1.0 * time_factor,
        retry_delay_increment=1.0 * time_factor,
    )


def _write_ids(rows: Iterable[dict], ids: TextIO, id_field: str = "ID") -> int:
    """Write each row's ID as it comes (rows are not kept); say ROWS n every so often."""
    count = 0
    for row in rows:
        ids.write(f"{row[id_field]}\n")
        count += 1
        if count % PROGRESS_EVERY == 0:
            _say(f"ROWS {count}")
    return count


def run_b24pysdk_fast(webhook: str, time_factor: float, ids: TextIO) -> int:
    """b24pysdk ``as_list_fast``: chained ``>ID`` keyset batches, one batch in flight."""
    client = _b24pysdk_client(webhook, time_factor)
    return _write_ids(client.crm.activity.list(select=SELECT).as_list_fast().result, ids)


def deal_select(webhook: str) -> list[str]:
    """The columns the tap selects for deals: every non-deprecated field of crm.item.fields."""
    request = urllib.request.Request(
        webhook.rstrip("/") + "/crm.item.fields",
        data=json.dumps({"entityTypeId": 2}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        fields = json.loads(response.read())["result"]["fields"]
    names = {name for name, info in fields.items() if not info.get("isDeprecated")}
    return sorted(names | {"id", "updatedTime"})


def run_b24pysdk_fast_deals(webhook: str, time_factor: float, ids: TextIO) -> int:
    """b24pysdk ``as_list_fast`` on ``crm.item.list`` (deals): ``>id`` keyset batches."""
    select = deal_select(webhook)
    client = _b24pysdk_client(webhook, time_factor)
    result = client.crm.item.list(entity_type_id=2, select=select).as_list_fast().result
    return _write_ids(result, ids, "id")


def run_b24pysdk_list(webhook: str, time_factor: float, ids: TextIO) -> int:
    """b24pysdk ``as_list``: a first page, then offset pages in batches of 50 (all in memory)."""
    client = _b24pysdk_client(webhook, time_factor)
    result = client.crm.activity.list(select=SELECT).as_list().result
    return _write_ids(result, ids)


def run_fast_bitrix24(webhook: str, time_factor: float, ids: TextIO) -> int:
    """fast-bitrix24 ``get_all``: offset pages in batches of 50, many batches in flight."""
    import fast_bitrix24.srh as srh
    from fast_bitrix24 import Bitrix

    # Its operating-time window is a module constant (600 s); scale it like every other time.
    srh.BITRIX_MEASUREMENT_PERIOD = 600 * time_factor
    bitrix = Bitrix(
        webhook,
        verbose=False,
        request_pool_size=50,
        requests_per_second=2.0 / time_factor,
    )
    result = bitrix.get_all("crm.activity.list", params={"select": SELECT})
    return _write_ids(result, ids)


PEERS = {
    "b24pysdk-fast": run_b24pysdk_fast,
    "b24pysdk-fast-deals": run_b24pysdk_fast_deals,
    "b24pysdk-list": run_b24pysdk_list,
    "fast-bitrix24": run_fast_bitrix24,
}


def _redact(text: str, webhook: str) -> str:
    secret = urlsplit(webhook).path.strip("/").split("/")[-1]
    return text.replace(secret, "***") if secret else text


def main(argv: list[str]) -> int:
    """Run one peer; see the module docstring."""
    name, webhook, time_factor, ids_path = argv[0], argv[1], float(argv[2]), argv[3]
    started = time.monotonic()
    try:
        with open(ids_path, "w") as ids:
            rows = PEERS[name](webhook, time_factor, ids)
    except BaseException as exc:  # report every failure as one line, the table shows it
        message = " ".join(str(exc).split()) or repr(exc)
        codes = re.findall(r"'error': '([A-Z_]+)'", message)
        if len(codes) > 1:  # a dump of a batch's result_error: say what it holds instead
            counts = {code: codes.count(code) for code in dict.fromkeys(codes)}
            message = "batch commands answered " + ", ".join(
                f"{code} x{n}" for code, n in counts.items()
            )
        _say(_redact(f"ERROR {type(exc).__name__}: {message}"[:400], webhook))
        return 1
    _say(f"DONE {rows} {time.monotonic() - started:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
