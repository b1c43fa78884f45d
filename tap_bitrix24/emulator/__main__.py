"""``python -m tap_bitrix24.emulator``: run the emulator until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import gc
import signal
import sys
import threading
from collections.abc import Sequence

from .server import EmulatorServer


def build_parser() -> argparse.ArgumentParser:
    """Command-line options (names match EmulatorServer keyword arguments)."""
    p = argparse.ArgumentParser(prog="python -m tap_bitrix24.emulator", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8024, help="0 picks a free port")
    p.add_argument("--activities", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--webhook-secret", default="emulator-webhook-secret")
    p.add_argument("--user-id", type=int, default=1)
    p.add_argument("--client-id", default="local.emulator.app")
    p.add_argument("--client-secret", default="emulator-client-secret")
    p.add_argument("--refresh-token", default="emulator-refresh-0")
    p.add_argument("--utc-offset", default="+03:00")
    p.add_argument(
        "--anchor", type=int, default=None, help="data's 'now' (unix); default today 00:00 UTC"
    )
    p.add_argument("--limits", action=argparse.BooleanOptionalAction, default=False)
    p.add_argument("--time-factor", type=float, default=1.0)
    p.add_argument("--latency", action=argparse.BooleanOptionalAction, default=False)
    p.add_argument("--bucket-rate", type=float, default=2.0)
    p.add_argument("--bucket-size", type=float, default=50.0)
    p.add_argument("--operating-limit", type=float, default=480.0)
    p.add_argument("--access-token-ttl", type=float, default=3600.0)
    p.add_argument(
        "--access-token-uses", type=int, default=0, help="REST requests per access token (0: any)"
    )
    p.add_argument("--require-https", action=argparse.BooleanOptionalAction, default=False)
    p.add_argument("--error-statuses", choices=("documented", "source"), default="documented")
    for flag, _ in ITEM_FLAGS:
        p.add_argument(f"--{flag}", type=int, default=None, metavar="N", help="items of the type")
    p.add_argument(
        "--items",
        action="append",
        default=[],
        metavar="TYPE=N",
        help="items of any CRM type by entityTypeId, e.g. 128=500, or *=N for every type not "
        "named (repeatable)",
    )
    p.add_argument("--crm-admin", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--crm-mode", choices=("classic", "simple"), default="classic")
    p.add_argument(
        "--scope",
        default="crm,user_brief",
        help="the webhook's scopes, comma-separated (user.get needs user/user_brief/user_basic, "
        "department.get needs department)",
    )
    return p


#: CLI flag -> entityTypeId of the fixed CRM types.
ITEM_FLAGS = (
    ("leads", 1),
    ("deals", 2),
    ("contacts", 3),
    ("companies", 4),
    ("quotes", 7),
    ("smart-invoices", 31),
)


def item_counts(args: argparse.Namespace) -> dict[str, int]:
    """``--deals 10 --items 128=5 --items *=50`` -> ``{"2": 10, "128": 5, "*": 50}``.

    ValueError on a bad pair.
    """
    counts: dict[str, int] = {}
    for flag, entity_type in ITEM_FLAGS:
        value = getattr(args, flag.replace("-", "_"))
        if value is not None:
            counts[str(entity_type)] = value
    for pair in args.items:
        key, sep, value = pair.partition("=")
        good_key = key.strip().isdigit() or key.strip() == "*"
        if not sep or not good_key or not value.strip().isdigit():
            raise ValueError(f"--items expects TYPE=N or *=N (e.g. 128=500), got {pair!r}")
        counts[key.strip()] = int(value)
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    """Start, print the one-line banner, serve until a signal."""
    args = build_parser().parse_args(argv)
    try:
        server = EmulatorServer(
            items=item_counts(args),
            crm_admin=args.crm_admin,
            crm_mode=args.crm_mode,
            scope=[s.strip() for s in args.scope.split(",") if s.strip()],
            activities=args.activities,
            seed=args.seed,
            webhook_secret=args.webhook_secret,
            host=args.host,
            port=args.port,
            user_id=args.user_id,
            client_id=args.client_id,
            client_secret=args.client_secret,
            refresh_token=args.refresh_token,
            utc_offset=args.utc_offset,
            anchor=args.anchor,
            limits=args.limits,
            time_factor=args.time_factor,
            latency=args.latency,
            bucket_rate=args.bucket_rate,
            bucket_size=args.bucket_size,
            operating_limit=args.operating_limit,
            access_token_ttl=args.access_token_ttl,
            access_token_uses=args.access_token_uses,
            require_https=args.require_https,
            error_statuses=args.error_statuses,
        ).start()
    except (ValueError, OSError) as exc:
        print(f"emulator: {exc}", file=sys.stderr)
        return 2
    # A list page builds thousands of short-lived, acyclic dicts and lists (freed by reference
    # counting); the default collector thresholds would rescan the portal's caches over and over.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    count = len(server.portal.data)
    line = (
        f"Bitrix24 emulator on {server.url} — webhook: {server.webhook_url} ({count} activities)\n"
    )
    sys.stdout.buffer.write(line.encode("utf-8"))
    sys.stdout.flush()
    while not stop.wait(0.5):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
