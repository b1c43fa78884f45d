"""The tap: settings, the shared Bitrix24 client, stream discovery and a clean CLI.

Errors the user must act on (:class:`~tap_bitrix24.errors.TapError`) end the run with one line
on stderr and a non-zero exit instead of a traceback.
"""

from __future__ import annotations

import copy
import gc
import io
import logging
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from functools import cached_property
from typing import IO, Any

import click
import requests
import simplejson
from requests.adapters import HTTPAdapter
from singer_sdk.exceptions import ConfigValidationError
from typing_extensions import override

from tap_bitrix24.client.auth import OAuthAuth, TokenStore, WebhookAuth
from tap_bitrix24.client.batch import MAX_COMMANDS, BatchCall
from tap_bitrix24.client.errors import Bitrix24Error
from tap_bitrix24.client.redact import install_log_redaction, redact
from tap_bitrix24.client.transport import Bitrix24Client, RetryPolicy
from tap_bitrix24.errors import ConfigError, StateError, TapError
from tap_bitrix24.output import BufferedMsgSpecWriter
from tap_bitrix24.sdk_private import STATE_LOGGER, UNSORTED_WARNING, ConfigCheckingTap
from tap_bitrix24.settings import (
    CONFIG_SCHEMA,
    Settings,
    parse_settings,
)
from tap_bitrix24.streams.activities import ActivitiesStream
from tap_bitrix24.streams.base import Bitrix24Stream
from tap_bitrix24.streams.bindings import SCHEMA as BINDINGS_SCHEMA
from tap_bitrix24.streams.bindings import ActivityBindingsStream
from tap_bitrix24.streams.communications import SCHEMA as COMMUNICATIONS_SCHEMA
from tap_bitrix24.streams.communications import ActivityCommunicationsStream
from tap_bitrix24.streams.deletions import DELETED_AT
from tap_bitrix24.streams.dictionaries import (
    DICTIONARIES,
    DICTIONARY_NAMES,
    DictionaryStream,
)
from tap_bitrix24.streams.filters import validate_filter
from tap_bitrix24.streams.item_filters import validate_item_filter
from tap_bitrix24.streams.item_schema import unknown_types
from tap_bitrix24.streams.items import FIXED_TYPES, ItemsStream, ItemType, is_item_stream
from tap_bitrix24.streams.product_rows import ProductRowsStream
from tap_bitrix24.streams.schema import build_schema
from tap_bitrix24.streams.stage_history import StageHistoryStream

LEAD = 1
SIMPLE_CRM = 2  # crm.settings.mode.get: 1 classic, 2 simple (no leads)

STREAM_NAMES = {
    ActivitiesStream.name,
    ActivityBindingsStream.name,
    ActivityCommunicationsStream.name,
    *DICTIONARY_NAMES,
    StageHistoryStream.name,
    ProductRowsStream.name,
}


class TapBitrix24(ConfigCheckingTap):
    """Singer tap for Bitrix24 CRM activities."""

    name = "tap-bitrix24"
    package_name = "tap-bitrix24"
    # A copy: the SDK adds its built-in settings (stream maps, flattening) to the class schema
    # in place, and CONFIG_SCHEMA must stay the tap's own (validation, generated docs).
    config_jsonschema = copy.deepcopy(CONFIG_SCHEMA)
    message_writer_class = BufferedMsgSpecWriter  # msgspec, no flush per RECORD (output.py)

    @cached_property
    def settings(self) -> Settings:
        """Validated settings (raises ConfigError naming the bad setting)."""
        return parse_settings(dict(self.config))

    @cached_property
    def client(self) -> Bitrix24Client:
        """One client for every stream: one bucket, one budget, one token."""
        install_log_redaction()
        settings = self.settings
        session = requests.Session()
        adapter = HTTPAdapter(pool_maxsize=max(10, settings.max_parallel_requests * 2))
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers["User-Agent"] = "tap-bitrix24"
        auth: WebhookAuth | OAuthAuth
        if settings.auth_method == "webhook":
            auth = WebhookAuth(
                settings.rest_base, settings.webhook_user_id, settings.webhook_secret
            )
        else:
            portal = settings.rest_base.removesuffix("rest/").rstrip("/")
            path = settings.token_store_path or TokenStore.default_path(portal, settings.client_id)
            auth = OAuthAuth(
                rest_base=settings.rest_base,
                client_id=settings.client_id,
                client_secret=settings.client_secret,
                refresh_token=settings.refresh_token,
                access_token=settings.access_token,
                token_url=settings.oauth_token_url,
                store=TokenStore(path, settings.refresh_token),
                session=session,
                timeout=settings.request_timeout,
            )
        return Bitrix24Client(
            rest_base=settings.rest_base,
            auth=auth,
            session=session,
            requests_per_second=settings.requests_per_second,
            burst=settings.burst,
            operating_limit=settings.operating_limit,
            concurrency=settings.max_parallel_requests,
            timeout=settings.request_timeout,
            retry=RetryPolicy(
                max_tries=settings.max_retries, base_seconds=settings.retry_backoff_seconds
            ),
            wait_log_interval=settings.progress_interval_seconds,
        )

    @cached_property
    def activity_fields(self) -> dict[str, dict[str, Any]]:
        """``crm.activity.fields`` of this portal (the schema and filter checks use it)."""
        fields = self.client.call("crm.activity.fields").get("result")
        if not isinstance(fields, dict) or "ID" not in fields:
            raise TapError(
                f"crm.activity.fields on {self.client.host} returned no field list; check that "
                "the webhook or app has the crm scope"
            )
        return fields

    @cached_property
    def checked_filter(self) -> dict[str, Any]:
        """The user's filter, after every key was checked against the portal's fields."""
        if not self.settings.filter:
            return {}
        return validate_filter(self.settings.filter, self.activity_fields)

    @cached_property
    def item_types(self) -> dict[str, tuple[ItemType, dict[str, dict[str, Any]]]]:
        """Stream name -> (CRM type, its ``crm.item.fields``) for every type this portal has.

        Smart processes come from ``crm.type.list``, which answers CRM administrators only:
        anyone else gets the fixed types and one warning. A type the portal lacks has no
        fields, hence no stream; leads in simple CRM mode (``crm.settings.mode.get``) neither.
        Two requests in all (the fields of up to 49 types and the mode come in one batch).
        """
        titles = {t: name.title() for t, name in FIXED_TYPES.items()}
        titles[31] = "Invoices"
        try:
            for item in self._smart_processes():
                titles[int(item["entityTypeId"])] = str(item.get("title") or "")
        except Bitrix24Error as exc:
            if exc.code != "ACCESS_DENIED":
                raise
            self.logger.warning(
                "The webhook user is not a CRM administrator (crm.type.list: ACCESS_DENIED), so "
                "smart processes cannot be listed and have no streams; only %s are extracted, "
                "and only the items this user may read. Use an administrator's webhook.",
                ", ".join(FIXED_TYPES.values()),
            )
        found: dict[str, tuple[ItemType, dict[str, dict[str, Any]]]] = {}
        order = list(titles)
        kept = frozenset({"ACCESS_DENIED", "ERROR_METHOD_NOT_FOUND"})
        for start in range(0, len(order), MAX_COMMANDS - 1):
            part = order[start : start + MAX_COMMANDS - 1]
            commands = {f"t{t}": ("crm.item.fields", {"entityTypeId": t}) for t in part}
            commands["mode"] = ("crm.settings.mode.get", {})
            result = self.client.call_batch(BatchCall(commands), keep=kept)
            if result.result.get("mode") == SIMPLE_CRM:
                part = [t for t in part if t != LEAD]  # simple CRM: leads are switched off
            for entity_type in part:
                answer = result.result.get(f"t{entity_type}")
                fields = answer.get("fields") if isinstance(answer, dict) else None
                if not isinstance(fields, dict) or "id" not in fields:
                    continue  # the portal has no such type (or does not show it)
                item_type = ItemType(entity_type, titles[entity_type])
                found[item_type.stream_name] = (item_type, fields)
        strange = {
            f"{name}.{field}": kind
            for name, (_, fields) in found.items()
            for field, kind in unknown_types(fields).items()
        }
        if strange:
            self.logger.warning(
                "Fields of unknown Bitrix24 types are extracted as strings: %s",
                ", ".join(f"{k} ({v})" for k, v in sorted(strange.items())),
            )
        return found

    def _smart_processes(self) -> list[dict[str, Any]]:
        """Every ``crm.type.list`` entry (50 a page)."""
        types: list[dict[str, Any]] = []
        start: int | None = 0
        while start is not None:
            body = self.client.call("crm.type.list", {"start": start})
            result = body.get("result")
            page = result.get("types") if isinstance(result, dict) else None
            types.extend(t for t in page or [] if isinstance(t, dict) and t.get("entityTypeId"))
            start = int(body["next"]) if body.get("next") is not None else None
        return types

    def item_filter(self, stream: str) -> dict[str, Any]:
        """The checked ``item_filters`` entry of an item stream (empty when unset)."""
        return self._checked_item_filters.get(stream, {})

    @cached_property
    def _checked_item_filters(self) -> dict[str, dict[str, Any]]:
        types = self.item_types
        checked = {}
        for stream, condition in self.settings.item_filters.items():
            if stream not in types:
                raise ConfigError(
                    f"item_filters: this portal has no item stream '{stream}' (it has: "
                    + ", ".join(types)
                    + ")"
                )
            checked[stream] = validate_item_filter(stream, condition, types[stream][1])
        return checked

    def _wants_items(self) -> bool:
        """Whether to discover CRM item types: in discovery, or when the catalog selects one.

        Listing the types costs two requests; a sync without a catalog cannot select item
        streams (they are not selected by default), so it does without them, as does a run
        whose catalog selects only activity streams.
        """
        catalog = self.input_catalog
        if catalog is None:
            return self._discovering
        return any(
            is_item_stream(entry.tap_stream_id) and entry.metadata.root.selected
            for entry in catalog.streams
        )

    def portal_now(self) -> datetime:
        """The portal's clock (``server.time``), in UTC."""
        body = self.client.call("server.time")
        try:
            return datetime.fromisoformat(str(body["result"])).astimezone(timezone.utc)
        except (KeyError, ValueError):
            return datetime.now(timezone.utc)

    @override
    def discover_streams(self) -> list[Bitrix24Stream]:
        """Activities, their bindings and communications, dictionaries, one stream per CRM type.

        Schemas come from ``crm.activity.fields`` and each type's ``crm.item.fields``.
        """
        self.settings  # noqa: B018 - fail early on a bad setting
        self.checked_filter  # noqa: B018 - and on a bad filter, before any data moves
        settings = self.settings
        if settings.pagination == "keyset":
            _hide_unsorted_warning()
        schema = build_schema(
            self.activity_fields,
            include_communications=settings.include_communications,
            include_files=settings.include_files,
        )
        if settings.detect_deletes:
            schema["properties"][DELETED_AT] = {"type": ["string", "null"], "format": "date-time"}
        streams: list[Bitrix24Stream] = [
            ActivitiesStream(self, schema),
            ActivityBindingsStream(self, BINDINGS_SCHEMA),
            ActivityCommunicationsStream(self, COMMUNICATIONS_SCHEMA),
            *(DictionaryStream(self, spec) for spec in DICTIONARIES),
            StageHistoryStream(self),
            ProductRowsStream(self),
        ]
        if self._wants_items():
            self._checked_item_filters  # noqa: B018 - a bad item filter fails before data moves
            streams += [
                ItemsStream(self, item_type, fields, detect_deletes=settings.detect_deletes)
                for item_type, fields in self.item_types.values()
            ]
        return streams

    _discovering = False  # set by discovery: list every stream, CRM item streams included

    @override
    def run_discovery(self) -> str:
        """``--discover``: the catalog of every stream, CRM item streams included."""
        self._discovering = True
        return super().run_discovery()

    def discover_all(self) -> dict[str, Any]:
        """The catalog ``--discover`` writes, as a dict (build the tap with setup_mapper=False)."""
        self._discovering = True
        return self.catalog_dict

    @override
    def load_state(self, state: dict[str, Any]) -> None:
        """Refuse a STATE that is not this tap's before any data moves."""
        check_state(state, STREAM_NAMES, is_item_stream)
        super().load_state(state)

    @classmethod
    @override
    def invoke(  # type: ignore[override]  # as the SDK's Tap.invoke: PluginBase takes **kwargs
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: Any = None,
        state: IO[str] | None = None,
        catalog: IO[str] | None = None,
    ) -> None:
        """Read --state and --catalog here, so unreadable files get a clear message."""
        _collect_less()
        state = _readable_json(state, "--state", "the last STATE the tap emitted")
        catalog = _readable_json(catalog, "--catalog", "a catalog from --discover")
        super().invoke(
            about=about, about_format=about_format, config=config, state=state, catalog=catalog
        )

    @classmethod
    @override
    def get_singer_command(cls) -> click.Command:
        """The SDK's command, with user-facing errors printed as one line."""
        command = super().get_singer_command()
        command.__class__ = _CleanErrorsCommand
        return command


#: The collector's thresholds in the CLI: young objects every 50,000 container allocations
#: (Python's default is 700), the middle and old generations 20 and 100 times less often.
GC_THRESHOLDS = (50_000, 20, 100)


def _collect_less() -> None:
    """Run the cyclic garbage collector less often in the CLI process.

    Records and the decoded rows behind them are acyclic dicts, thousands of them in flight; at
    Python's default pace the collector re-scanned them (and every module and schema loaded at
    start) so often that it took about a sixth of the tap's CPU (measured with perf). What is
    loaded before the sync is frozen out of the scans; what cycles the HTTP stack makes are
    still collected, less often.
    """
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class _CleanErrorsCommand(click.Command):
    """Prints :class:`TapError` messages on one line instead of a traceback."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run the command; user-facing errors exit non-zero with one clear line."""
        try:
            return super().main(*args, **kwargs)
        except TapError as exc:
            click.echo(f"tap-bitrix24: error: {redact(str(exc))}", err=True)
            sys.exit(exc.exit_code)
        except simplejson.JSONDecodeError as exc:  # the SDK reads --config files itself
            click.echo(
                f"tap-bitrix24: error: a --config file is not valid JSON ({exc}); fix the file",
                err=True,
            )
            sys.exit(2)
        except ConfigValidationError as exc:
            problems = "; ".join(redact(str(e)) for e in exc.errors) or redact(str(exc))
            click.echo(f"tap-bitrix24: error: invalid settings: {problems}", err=True)
            sys.exit(2)


class _DropUnsortedWarning(logging.Filter):
    """Keyset walks resume from their ``walk`` STATE; the SDK's unsorted warning misleads."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop only that one message."""
        return not str(record.msg).startswith(UNSORTED_WARNING)


def _hide_unsorted_warning() -> None:
    state_logger = logging.getLogger(STATE_LOGGER)
    if not any(isinstance(f, _DropUnsortedWarning) for f in state_logger.filters):
        state_logger.addFilter(_DropUnsortedWarning())


def _readable_json(handle: IO[str] | None, option: str, expected: str) -> IO[str] | None:
    """Return a fresh handle on the same text, or raise a one-line error if it is not JSON."""
    if handle is None:
        return None
    text = handle.read()
    try:
        value = simplejson.loads(text)
    except simplejson.JSONDecodeError as exc:
        raise StateError(f"{option} file is not valid JSON ({exc}); pass {expected}") from None
    if not isinstance(value, dict):
        raise StateError(f"{option} file must hold a JSON object; pass {expected}")
    return io.StringIO(text)


def check_state(
    state: Any, streams: set[str], also: Callable[[str], bool] = lambda name: False
) -> None:
    """Check that ``state`` is a Singer STATE of this tap's streams (or names ``also`` takes)."""
    hint = "pass the last STATE this tap emitted, or none for a full sync"
    if not isinstance(state, dict):
        raise StateError(f"the state must be a JSON object; {hint}")
    bookmarks = state.get("bookmarks", {})
    if not isinstance(bookmarks, dict):
        raise StateError(f"the state's 'bookmarks' must be an object; {hint}")
    unknown = sorted(name for name in set(bookmarks) - streams if not also(name))
    if unknown:
        raise StateError(
            "the state holds bookmarks for stream(s) this tap does not have: "
            + ", ".join(unknown)
            + f" (the state of another tap?); {hint}"
        )
    for name, stream_state in bookmarks.items():
        if not isinstance(stream_state, dict):
            raise StateError(f"the state of stream '{name}' must be an object; {hint}")
        value = stream_state.get("replication_key_value")
        if value is not None:
            try:
                datetime.fromisoformat(str(value))
            except ValueError:
                raise StateError(
                    f"the bookmark of stream '{name}' ({str(value)[:40]!r}) is not a date-time; "
                    f"{hint}"
                ) from None


if __name__ == "__main__":
    TapBitrix24.cli()
