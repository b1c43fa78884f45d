"""The tap's settings: the JSON schema shown by ``--about`` and the checks the schema cannot make.

:data:`CONFIG_SCHEMA` is the one place where a setting's type, default, minimum and allowed
values are written (README's settings table and meltano.yml's settings are generated from it by
scripts/sync_meltano_settings.py). :func:`parse_settings` reads numeric strings as numbers,
validates the config against the schema, fills in the defaults and checks what a schema cannot
(auth choice, URLs, start_date), returning a :class:`Settings` object or raising a
:class:`~tap_bitrix24.errors.ConfigError` whose message names the setting and the fix.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, ValidationError
from singer_sdk import typing as th
from singer_sdk.helpers import capabilities as sdk_capabilities

from tap_bitrix24.client.auth import DEFAULT_TOKEN_URL
from tap_bitrix24.errors import ConfigError

logger = logging.getLogger("tap-bitrix24")

LANGUAGE_PATTERN = "^([a-z]{2})?$"  # a Bitrix24 language ID (LID), or empty for the portal's
OAUTH_KEYS = ("portal_url", "client_id", "client_secret", "refresh_token")
#: Settings the SDK adds to every tap for its capabilities (stream maps, flattening, batch).
#: Meltano declares them itself, so meltano.yml and README's table leave them out
#: (scripts/sync_meltano_settings.py, tests/e2e/test_meltano_settings.py).
SDK_SETTINGS = frozenset(
    name
    for extra in (
        sdk_capabilities.STREAM_MAPS_CONFIG,
        sdk_capabilities.FLATTENING_CONFIG,
        sdk_capabilities.BATCH_CONFIG,
    )
    for name in extra["properties"]
)

CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "webhook_url",
        th.StringType,
        secret=True,
        title="Incoming webhook URL",
        description="Incoming webhook base, e.g. https://example.bitrix24.com/rest/1/abc123/ "
        "(needs the crm scope). Use either this or the OAuth settings.",
    ),
    th.Property(
        "portal_url",
        th.StringType,
        title="Portal URL (OAuth)",
        description="Portal address for OAuth, e.g. https://example.bitrix24.com",
    ),
    th.Property(
        "client_id",
        th.StringType,
        title="OAuth client ID",
        description="The application's client_id (local or Market app).",
    ),
    th.Property(
        "client_secret",
        th.StringType,
        secret=True,
        title="OAuth client secret",
        description="The application's client_secret; sent only to oauth_token_url.",
    ),
    th.Property(
        "refresh_token",
        th.StringType,
        secret=True,
        title="OAuth refresh token",
        description="Bitrix24 replaces it on every refresh; the newest one is kept in "
        "token_store_path and used by the next run.",
    ),
    th.Property(
        "access_token",
        th.StringType,
        secret=True,
        title="OAuth access token",
        description="Optional current access token; refreshed when the portal says it expired.",
    ),
    th.Property(
        "oauth_token_url",
        th.StringType,
        default=DEFAULT_TOKEN_URL,
        title="OAuth token endpoint",
        description="Where refresh tokens are exchanged (Bitrix24's central OAuth server).",
    ),
    th.Property(
        "token_store_path",
        th.StringType,
        title="OAuth token store",
        description="File where the newest OAuth tokens are kept between runs (mode 0600). "
        "Default: $XDG_STATE_HOME/tap-bitrix24/oauth-<portal>-<hash>.json "
        "(~/.local/state when XDG_STATE_HOME is unset).",
    ),
    th.Property(
        "start_date",
        th.DateTimeType,
        title="Start date",
        description="First sync reads activities with LAST_UPDATED >= start_date and CRM items "
        "with updatedTime >= start_date "
        "(a date or an ISO 8601 date-time; without an offset it is read as UTC).",
    ),
    th.Property(
        "filter",
        th.ObjectType(additional_properties=True),
        examples=[{"OWNER_TYPE_ID": 2, "!TYPE_ID": 4}],
        title="Extra filter",
        description='Extra crm.activity.list filter, e.g. {"OWNER_TYPE_ID": 2, "!TYPE_ID": 4}. '
        "Every key is checked against crm.activity.fields; a typo is refused. Values must suit "
        'the field: true/false (or "Y"/"N") for Y/N fields such as COMPLETED (sent as Y/N), '
        "whole numbers for integer, user and enum fields; anything else is refused.",
    ),
    th.Property(
        "item_filters",
        th.ObjectType(additional_properties=True),
        examples=[{"deals": {"categoryId": 0, "!stageId": "LOSE"}}],
        title="Filters of CRM item streams",
        description="Extra crm.item.list filter per item stream, e.g. "
        '{"deals": {"categoryId": 0}, "smart_process_1038": {"assignedById": 5}}. Keys are '
        "the fields crm.item.fields lists for that type (camelCase such as stageId, or the "
        "upperName such as STAGE_ID); an unknown field or stream is refused.",
    ),
    th.Property(
        "include_communications",
        th.BooleanType,
        default=False,
        title="Include COMMUNICATIONS",
        description="Add the COMMUNICATIONS array (one more SQL query per row on the portal).",
    ),
    th.Property(
        "include_files",
        th.BooleanType,
        default=False,
        title="Include FILES",
        description="Add the FILES array ({id, url}); the caller's token is removed from URLs.",
    ),
    th.Property(
        "detect_deletes",
        th.BooleanType,
        default=False,
        title="Detect deletes",
        description="After each sync, list the IDs that still exist (an ID-only walk, "
        "ceil(N/2500) requests) and emit tombstones (_sdc_deleted_at) for activities deleted on "
        "the portal; with a filter, activities that merely left it are not tombstoned (the "
        "missing IDs are checked without the filter: candidates/2500 more requests). The walk "
        "also reads owners, so activities and bindings that CRM merges moved are read again. "
        "Keeps the known IDs and owners in STATE (about 4 bytes per activity). CRM item "
        "streams tombstone deleted items the same way (their own ID walk).",
    ),
    th.Property(
        "field_options_language",
        th.StringType(pattern=LANGUAGE_PATTERN),
        default="",
        examples=["en"],
        title="Language of field labels",
        description="Two-letter language code (en, ru, de, …) of the field_options fieldLabel "
        "column: the labels of the lead, deal, contact, company and quote fields come from "
        "their crm.*.userfield.list in that language (one more request per sync; a field "
        "without a label in it keeps the portal's). Empty: the portal's language, as "
        "crm.item.fields gives it. Option labels have one text in every language.",
    ),
    th.Property(
        "pagination",
        th.StringType,
        default="keyset",
        allowed_values=["keyset", "offset"],
        title="Pagination",
        description="keyset: >ID pages with start=-1 chained 50 to a batch request (fast, "
        "correct under change); offset: pages keyed on the API's next offset.",
    ),
    th.Property(
        "requests_per_second",
        th.NumberType(minimum=0.01),  # type: ignore[arg-type]  # the SDK types minimum as int
        default=2,
        title="Requests per second",
        description="Client-side leaky bucket drain rate; 2 on most plans, 5 on Enterprise.",
    ),
    th.Property(
        "burst",
        th.IntegerType(minimum=1),
        default=50,
        title="Burst",
        description="Client-side leaky bucket size; 50 on most plans, 250 on Enterprise.",
    ),
    th.Property(
        "operating_limit",
        th.NumberType(minimum=1),
        default=420,
        title="Operating-time budget",
        description="Server seconds one method may use per 10 minutes before the portal "
        "answers OPERATION_TIME_LIMIT (420 in Bitrix24's code, 480 in its docs).",
    ),
    th.Property(
        "max_parallel_requests",
        th.IntegerType(minimum=1),
        default=6,
        title="Parallel requests",
        description="Keyset batches in flight at once over disjoint ID ranges (1 = sequential). "
        "The speed-up assumes the portal serves a webhook's concurrent requests concurrently; "
        "where it queues them, use 1.",
    ),
    th.Property(
        "request_timeout",
        th.NumberType(minimum=1),
        default=90,
        title="Request timeout (s)",
        description="Seconds to wait for one HTTP answer before retrying it.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType(minimum=1),
        default=8,
        title="Attempts per request",
        description="Attempts before a transient fault (5xx, timeouts, 503) ends the run.",
    ),
    th.Property(
        "retry_backoff_seconds",
        th.NumberType(minimum=0),
        default=1,
        title="Retry backoff base (s)",
        description="First retry delay; doubles per attempt up to 60 s.",
    ),
    th.Property(
        "progress_interval_seconds",
        th.NumberType(minimum=0),
        default=30,
        title="Progress log interval (s)",
        description="How often long syncs log rows, rows/s, requests, throttling and what "
        "remains (0 = only the final line).",
    ),
).to_dict()


@dataclass(frozen=True)
class Settings:
    """The validated settings the rest of the tap reads.

    Fields without a default are copied from the validated config, the schema's default filling
    what is unset (:func:`parse_settings`); the others are derived from it.
    """

    auth_method: str  # "webhook" | "oauth"
    rest_base: str  # https://host/rest/ (never holds a secret)
    oauth_token_url: str
    include_communications: bool
    include_files: bool
    detect_deletes: bool
    pagination: str
    field_options_language: str
    requests_per_second: float
    burst: int
    operating_limit: float
    max_parallel_requests: int
    request_timeout: float
    max_retries: int
    retry_backoff_seconds: float
    progress_interval_seconds: float
    webhook_user_id: str = ""
    webhook_secret: str = ""
    client_id: str = ""
    client_secret: str = ""
    refresh_token: str = ""
    access_token: str | None = None
    token_store_path: Path | None = None
    start_date: datetime | None = None
    filter: dict[str, Any] = field(default_factory=dict)
    item_filters: dict[str, dict[str, Any]] = field(default_factory=dict)


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(setting: str, url: str) -> tuple[str, str]:
    """Check scheme and host of ``url``; return ``(scheme://netloc, path)``."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{setting}: expected an https:// address such as https://example.bitrix24.com"
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError(
            f"{setting}: plain http is refused for {parts.hostname}; use https:// "
            "(http is allowed only for loopback hosts such as 127.0.0.1)"
        )
    return f"{parts.scheme}://{parts.netloc}", parts.path


_WEBHOOK_PATH = re.compile(r"^/rest/(\d+)/([^/]+)/?$")


def _webhook(url: str) -> tuple[str, str, str]:
    origin, path = check_url("webhook_url", url)
    match = _WEBHOOK_PATH.match(path)
    if not match:
        raise ConfigError(
            "webhook_url: expected the webhook base https://<portal>/rest/<user id>/<secret>/ "
            "(as shown in Developer resources > Other > Inbound webhook), without a method name"
        )
    return f"{origin}/rest/", match.group(1), match.group(2)


def parse_start_date(value: Any) -> datetime | None:
    """Parse ``start_date``; a date or naive date-time is read as UTC."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"start_date: {text!r} is not a date; use e.g. 2024-01-31 or 2024-01-31T00:00:00+03:00"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _json_types(prop: dict[str, Any]) -> list[str]:
    types = prop.get("type", [])
    return [t for t in ([types] if isinstance(types, str) else types) if t != "null"]


def _as_number(value: Any) -> Any:
    """``value`` as an int or float when it is a number or a numeric string; else unchanged.

    Meltano passes settings given as environment variables as strings, and the SDK reads JSON
    numbers as Decimal; both become plain numbers here.
    """
    if isinstance(value, bool) or not isinstance(value, (str, Decimal)):
        return value
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else value
    except ArithmeticError:
        return value
    if not number.is_finite():
        return value
    return int(number) if number == number.to_integral_value() else float(number)


def read_numbers(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` with numeric settings given as strings or Decimals made numbers.

    An empty string counts as unset (an empty environment variable).
    """
    out = dict(config)
    for key, prop in CONFIG_SCHEMA["properties"].items():
        if key in out and {"integer", "number"} & set(_json_types(prop)):
            out[key] = None if out[key] == "" else _as_number(out[key])
    return out


_VALIDATOR = Draft202012Validator(CONFIG_SCHEMA)


def _show(value: Any, *, secret: bool = False) -> str:
    if secret:
        return f"a value of type {type(value).__name__}"  # never the secret itself
    return f"{value:g}" if isinstance(value, float) else repr(value)


def _problem(error: ValidationError) -> str:
    """One line naming the setting and what it takes."""
    if not error.absolute_path:
        return f"settings: {error.message}"
    key = str(error.absolute_path[0])
    prop = CONFIG_SCHEMA["properties"].get(key, {})
    got = _show(error.instance, secret=bool(prop.get("secret")))
    rule: Any = error.validator_value  # the schema's value for the failed keyword
    if error.validator == "type":
        wanted = [rule] if isinstance(rule, str) else [t for t in rule if t != "null"]
        examples = prop.get("examples")
        such_as = f" such as {json.dumps(examples[0])}" if examples else ""
        return f"{key}: expected {' or '.join(wanted)}{such_as}, got {got}"
    if error.validator == "minimum":
        return f"{key}: must be at least {rule:g}, got {got}"
    if error.validator == "maximum":
        return f"{key}: must be at most {rule:g}, got {got}"
    if error.validator == "pattern":
        examples = prop.get("examples")
        such_as = f" such as {json.dumps(examples[0])}" if examples else ""
        return f"{key}: expected a value{such_as} (pattern {rule}), got {got}"
    if error.validator == "enum":
        allowed = ", ".join(repr(v) for v in rule if v is not None)
        return f"{key}: expected one of {allowed}, got {got}"
    return f"{key}: {error.message}"


def _unset(key: str, value: Any) -> bool:
    """Null, or an empty string where no string is expected (e.g. an empty env var)."""
    prop = CONFIG_SCHEMA["properties"].get(key)
    if prop is None or value is None:
        return True
    return value == "" and "string" not in _json_types(prop)


def check_schema(config: dict[str, Any]) -> None:
    """Validate ``config`` (numbers already read) against :data:`CONFIG_SCHEMA`.

    Unset (null) settings take their default, so they are left out. Raises one
    :class:`ConfigError` for the first setting (in schema order) that is wrong.
    """
    given = {k: v for k, v in config.items() if not _unset(k, v)}
    errors = list(_VALIDATOR.iter_errors(given))
    if errors:
        order = list(CONFIG_SCHEMA["properties"])
        first = min(
            errors, key=lambda e: order.index(e.absolute_path[0]) if e.absolute_path else -1
        )
        raise ConfigError(_problem(first))


def _plain_values(config: dict[str, Any]) -> dict[str, Any]:
    """The Settings fields copied from the config: its value, or else the schema's default."""
    properties = CONFIG_SCHEMA["properties"]
    cast = {"integer": int, "number": float, "boolean": bool, "string": str}
    out = {}
    for item in fields(Settings):
        if item.default is not MISSING or item.default_factory is not MISSING:
            continue
        prop = properties.get(item.name)
        if prop is None:
            continue
        value = config.get(item.name)
        if value is None or value == "":
            value = prop.get("default")
        out[item.name] = cast[_json_types(prop)[0]](value)
    return out


def parse_settings(config: dict[str, Any]) -> Settings:
    """Validate ``config`` against the schema, then what a schema cannot check: auth, URLs."""
    config = read_numbers(config)
    check_schema(config)
    unknown = sorted(set(config) - set(CONFIG_SCHEMA["properties"]) - SDK_SETTINGS)
    if unknown:
        logger.warning(
            "Ignoring unknown setting(s): %s (check the spelling; `tap-bitrix24 --about` "
            "lists the settings)",
            ", ".join(unknown),
        )
    webhook = (config.get("webhook_url") or "").strip()
    oauth_given = [k for k in OAUTH_KEYS if config.get(k)]
    if webhook and oauth_given:
        raise ConfigError(
            "webhook_url and OAuth settings (" + ", ".join(oauth_given) + ") are both set; "
            "configure exactly one authentication method"
        )
    common: dict[str, Any] = {
        **_plain_values(config),
        "start_date": parse_start_date(config.get("start_date")),
        "filter": _filter(config.get("filter")),
        "item_filters": _item_filters(config.get("item_filters")),
    }
    if webhook:
        rest_base, user_id, secret = _webhook(webhook)
        return Settings(
            auth_method="webhook",
            rest_base=rest_base,
            webhook_user_id=user_id,
            webhook_secret=secret,
            **common,
        )
    if not oauth_given:
        raise ConfigError(
            "no authentication configured: set webhook_url (an incoming webhook with the crm "
            "scope), or portal_url, client_id, client_secret and refresh_token for OAuth"
        )
    missing = [k for k in OAUTH_KEYS if not config.get(k)]
    if missing:
        raise ConfigError(
            "OAuth needs " + ", ".join(missing) + " as well (or use webhook_url instead)"
        )
    origin, path = check_url("portal_url", config["portal_url"])
    if path not in ("", "/"):
        raise ConfigError(
            "portal_url: expected only the portal address, e.g. https://example.bitrix24.com"
        )
    check_url("oauth_token_url", common["oauth_token_url"])
    store = config.get("token_store_path")
    return Settings(
        auth_method="oauth",
        rest_base=f"{origin}/rest/",
        client_id=str(config["client_id"]),
        client_secret=str(config["client_secret"]),
        refresh_token=str(config["refresh_token"]),
        access_token=config.get("access_token") or None,
        token_store_path=Path(store).expanduser() if store else None,
        **common,
    )


def _filter(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _item_filters(value: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        return {}
    for stream, condition in value.items():
        if not isinstance(condition, dict):
            raise ConfigError(
                f"item_filters: the filter of stream '{stream}' must be an object such as "
                '{"stageId": "NEW"}'
            )
    return {str(k): dict(v) for k, v in value.items()}
