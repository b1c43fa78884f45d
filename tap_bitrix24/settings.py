"""The tap's settings: the JSON schema shown by ``--about`` and the checks the schema cannot make.

:func:`parse_settings` turns the validated config into a :class:`Settings` object or raises a
:class:`~tap_bitrix24.errors.ConfigError` whose message names the setting and the fix.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from singer_sdk import typing as th

from tap_bitrix24.client.auth import DEFAULT_TOKEN_URL
from tap_bitrix24.errors import ConfigError

logger = logging.getLogger("tap-bitrix24")

OAUTH_KEYS = ("portal_url", "client_id", "client_secret", "refresh_token")
#: Settings the SDK adds to every tap (stream maps, flattening, batch).
_SDK_SETTINGS = {
    "stream_maps",
    "stream_map_config",
    "faker_config",
    "flattening_enabled",
    "flattening_max_depth",
    "flattening_max_key_length",
    "flattening_separator",
    "batch_config",
}

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
        description="First sync reads activities with LAST_UPDATED >= start_date "
        "(a date or an ISO 8601 date-time; without an offset it is read as UTC).",
    ),
    th.Property(
        "filter",
        th.ObjectType(additional_properties=True),
        title="Extra filter",
        description='Extra crm.activity.list filter, e.g. {"OWNER_TYPE_ID": 2, "!TYPE_ID": 4}. '
        "Every key is checked against crm.activity.fields; a typo is refused. Values must suit "
        'the field: true/false (or "Y"/"N") for Y/N fields such as COMPLETED (sent as Y/N), '
        "whole numbers for integer, user and enum fields; anything else is refused.",
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
        "ceil(N/2500) requests) and emit tombstones (_sdc_deleted_at) for deleted activities. "
        "Keeps the known IDs in STATE (under 1 byte per activity).",
    ),
    th.Property(
        "pagination",
        th.StringType(allowed_values=["keyset", "offset"]),
        default="keyset",
        title="Pagination",
        description="keyset: >ID pages with start=-1 chained 50 to a batch request (fast, "
        "correct under change); offset: pages keyed on the API's next offset.",
    ),
    th.Property(
        "requests_per_second",
        th.NumberType,
        default=2,
        title="Requests per second",
        description="Client-side leaky bucket drain rate; 2 on most plans, 5 on Enterprise.",
    ),
    th.Property(
        "burst",
        th.IntegerType,
        default=50,
        title="Burst",
        description="Client-side leaky bucket size; 50 on most plans, 250 on Enterprise.",
    ),
    th.Property(
        "operating_limit",
        th.NumberType,
        default=420,
        title="Operating-time budget",
        description="Server seconds one method may use per 10 minutes before the portal "
        "answers OPERATION_TIME_LIMIT (420 in Bitrix24's code, 480 in its docs).",
    ),
    th.Property(
        "max_parallel_requests",
        th.IntegerType,
        default=6,
        title="Parallel requests",
        description="Keyset batches in flight at once over disjoint ID ranges (1 = sequential). "
        "The speed-up assumes the portal serves a webhook's concurrent requests concurrently; "
        "where it queues them, use 1.",
    ),
    th.Property(
        "request_timeout",
        th.NumberType,
        default=90,
        title="Request timeout (s)",
        description="Seconds to wait for one HTTP answer before retrying it.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType,
        default=8,
        title="Attempts per request",
        description="Attempts before a transient fault (5xx, timeouts, 503) ends the run.",
    ),
    th.Property(
        "retry_backoff_seconds",
        th.NumberType,
        default=1,
        title="Retry backoff base (s)",
        description="First retry delay; doubles per attempt up to 60 s.",
    ),
    th.Property(
        "progress_interval_seconds",
        th.NumberType,
        default=30,
        title="Progress log interval (s)",
        description="How often long syncs log rows, rows/s, requests, throttling and what "
        "remains (0 = only the final line).",
    ),
).to_dict()


@dataclass(frozen=True)
class Settings:
    """The validated settings the rest of the tap reads."""

    auth_method: str  # "webhook" | "oauth"
    rest_base: str  # https://host/rest/ (never holds a secret)
    webhook_user_id: str = ""
    webhook_secret: str = ""
    client_id: str = ""
    client_secret: str = ""
    refresh_token: str = ""
    access_token: str | None = None
    oauth_token_url: str = DEFAULT_TOKEN_URL
    token_store_path: Path | None = None
    start_date: datetime | None = None
    filter: dict[str, Any] = field(default_factory=dict)
    include_communications: bool = False
    include_files: bool = False
    detect_deletes: bool = False
    pagination: str = "keyset"
    requests_per_second: float = 2.0
    burst: int = 50
    operating_limit: float = 420.0
    max_parallel_requests: int = 6
    request_timeout: float = 90.0
    max_retries: int = 8
    retry_backoff_seconds: float = 1.0
    progress_interval_seconds: float = 30.0


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


def _number(config: dict[str, Any], key: str, default: float, *, minimum: float) -> float:
    value = config.get(key, default)
    if value is None:
        value = default
    if isinstance(value, bool) or (
        not isinstance(value, (int, float)) and not hasattr(value, "__float__")
    ):
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    number = float(value)
    if number < minimum:
        raise ConfigError(f"{key}: must be at least {minimum:g}, got {number:g}")
    return number


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


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "integer": (int, Decimal),
    "number": (int, float, Decimal),
    "object": (dict,),
}


def check_types(config: dict[str, Any]) -> None:
    """Each known setting has its schema's JSON type (also when the SDK skipped validation)."""
    properties = CONFIG_SCHEMA["properties"]
    for key, value in config.items():
        if value is None or key not in properties:
            continue
        types = properties[key].get("type", [])
        types = [types] if isinstance(types, str) else types
        wanted = [t for t in types if t in _JSON_TYPES]
        if not wanted:
            continue
        ok = any(isinstance(value, _JSON_TYPES[t]) for t in wanted)
        if isinstance(value, bool) and "boolean" not in wanted:
            ok = False
        if ok and "integer" in wanted and "number" not in wanted and not isinstance(value, bool):
            ok = value == int(value)
        if not ok:
            shown = str(value) if isinstance(value, Decimal) else repr(value)
            raise ConfigError(f"{key}: expected {' or '.join(wanted)}, got {shown}")


def parse_settings(config: dict[str, Any]) -> Settings:
    """Validate what the JSON schema cannot: auth choice, URLs, ranges, start_date."""
    check_types(config)
    unknown = sorted(set(config) - set(CONFIG_SCHEMA["properties"]) - _SDK_SETTINGS)
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
        "start_date": parse_start_date(config.get("start_date")),
        "filter": _filter(config.get("filter")),
        "include_communications": bool(config.get("include_communications", False)),
        "include_files": bool(config.get("include_files", False)),
        "detect_deletes": bool(config.get("detect_deletes", False)),
        "pagination": _pagination(config.get("pagination") or "keyset"),
        "requests_per_second": _number(config, "requests_per_second", 2, minimum=0.01),
        "burst": int(_number(config, "burst", 50, minimum=1)),
        "operating_limit": _number(config, "operating_limit", 420, minimum=1),
        "max_parallel_requests": int(_number(config, "max_parallel_requests", 6, minimum=1)),
        "request_timeout": _number(config, "request_timeout", 90, minimum=1),
        "max_retries": int(_number(config, "max_retries", 8, minimum=1)),
        "retry_backoff_seconds": _number(config, "retry_backoff_seconds", 1, minimum=0),
        "progress_interval_seconds": _number(config, "progress_interval_seconds", 30, minimum=0),
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
    token_url = config.get("oauth_token_url") or DEFAULT_TOKEN_URL
    check_url("oauth_token_url", token_url)
    store = config.get("token_store_path")
    return Settings(
        auth_method="oauth",
        rest_base=f"{origin}/rest/",
        client_id=str(config["client_id"]),
        client_secret=str(config["client_secret"]),
        refresh_token=str(config["refresh_token"]),
        access_token=config.get("access_token") or None,
        oauth_token_url=token_url,
        token_store_path=Path(store).expanduser() if store else None,
        **common,
    )


def _pagination(value: Any) -> str:
    if value not in ("keyset", "offset"):
        raise ConfigError(f"pagination: expected 'keyset' or 'offset', got {value!r}")
    return str(value)


def _filter(value: Any) -> dict[str, Any]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ConfigError(
            'filter: expected an object such as {"OWNER_TYPE_ID": 2, "!TYPE_ID": 4}, '
            f"got {type(value).__name__}"
        )
    return dict(value)
