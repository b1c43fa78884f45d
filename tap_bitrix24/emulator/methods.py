"""The REST methods the portal serves, each a function of (params, context) -> CallResult.

Rows are printed once, while the portal lock is held, into pre-encoded JSON fragments; the dict
form of a row is only built when a batch reference (``$result[cmd][49][ID]``) needs to read it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .data import Dataset
from .errors import ApiError
from .fields import activity_fields, communication_fields
from .listing import (
    Select,
    compile_filter,
    parse_filter_param,
    parse_order,
    parse_start,
    resolve_array_param,
    run_list,
)
from .php import Fragments, json_encode, php_intval

if TYPE_CHECKING:
    from .portal import CallContext


@dataclass
class CallResult:
    """What a method returns: result value, paging fields and modelled server seconds."""

    result: Any
    cost: float
    next: int | None = None
    total: int | None = None
    rows: int = 0


@dataclass
class RowList(Fragments):
    """Printed rows of a list call, with lazy dict access for batch references."""

    ds: Dataset
    positions: list[int]
    select: Select
    file_base: str
    credential: str
    fragments: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.select.columns is None and not self.select.has_extras:
            fragment = self.ds.fragment
            self.fragments = [fragment(p) for p in self.positions]
        else:
            self.fragments = [self._render(p) for p in self.positions]

    def __len__(self) -> int:
        return len(self.positions)

    def row(self, index: int) -> dict[str, Any] | None:
        """Row `index` as a dict (None when out of range)."""
        if not 0 <= index < len(self.positions):
            return None
        return self._as_dict(self.positions[index])

    def _extras(self, pos: int) -> dict[str, Any]:
        extras: dict[str, Any] = {}
        if self.select.incoming:
            extras["IS_INCOMING_CHANNEL"] = self.ds.record(pos).incoming
        if self.select.communications:
            extras["COMMUNICATIONS"] = self.ds.communications(pos)
        if self.select.files:
            files = self.files(pos)
            if files:
                extras["FILES"] = files
        return extras

    def files(self, pos: int) -> list[dict[str, Any]]:
        """FILES items; each URL carries the caller's credential, like the real portal's."""
        ident = self.ds.ids[pos]
        return [
            {
                "id": fid,
                "url": f"{self.file_base}/bitrix/tools/crm_show_file.php?fileId={fid}"
                f"&ownerTypeId=6&ownerId={ident}&auth={self.credential}",
            }
            for fid in self.ds.file_ids(pos)
        ]

    def _as_dict(self, pos: int) -> dict[str, Any]:
        row = self.ds.record(pos).row
        if self.select.columns is None:
            out = dict(row)
        else:
            out = {name: row[name] for name in self.select.columns}
        out.update(self._extras(pos))
        return out

    def _render(self, pos: int) -> bytes:
        if self.select.columns is not None:
            return json_encode(self._as_dict(pos))
        base = self.ds.fragment(pos)
        extras = self._extras(pos)
        if not extras:
            return base
        return base[:-1] + b"," + json_encode(extras)[1:]


def activity_list(params: dict[str, Any], ctx: CallContext) -> CallResult:
    """``crm.activity.list``."""
    ds = ctx.portal.data
    settings = ctx.portal.settings
    _, select_raw = resolve_array_param(params, "select")
    select = Select.parse(select_raw)
    filter_raw = parse_filter_param(params)
    order_present, order_raw = resolve_array_param(params, "order")
    order = parse_order(order_present, order_raw)
    start = parse_start(params)
    flt = compile_filter(filter_raw, ds, ctx.portal.clock, ctx.now)
    found = run_list(ds, flt, order, start, settings.unstable_ties)
    rows = RowList(ds, found.positions, select, ctx.base_url, ctx.caller.credential)
    if found.keyset:
        cost = settings.cost_keyset_page
    else:
        ctx.portal.stats_data.counted_pages += 1
        cost = (
            settings.cost_offset_page
            + settings.cost_count_per_100k * found.matched / 100_000
            + settings.cost_skip_per_100k * found.skipped / 100_000
        )
    return CallResult(rows, cost, next=found.next, total=found.total, rows=len(rows))


def activity_get(params: dict[str, Any], ctx: CallContext) -> CallResult:
    """``crm.activity.get``: the default columns plus COMMUNICATIONS (and FILES when any)."""
    raw = next((params[k] for k in ("id", "ID", "Id") if k in params), None)
    ident = php_intval(raw)
    if ident <= 0:
        raise ApiError("", "ID is not defined or invalid.")
    ds = ctx.portal.data
    pos = ds.position(ident)
    if pos is None:
        raise ApiError("", "Not found")
    select = Select(None, communications=True, files=True)
    rows = RowList(ds, [pos], select, ctx.base_url, ctx.caller.credential)
    return CallResult(rows.fragments[0], ctx.portal.settings.cost_other)


def binding_list(params: dict[str, Any], ctx: CallContext) -> CallResult:
    """``crm.activity.binding.list``: real JSON integers, camelCase keys."""
    if "activityId" not in params:
        raise ApiError("100", "Could not find value for parameter {activityId}")
    ds = ctx.portal.data
    pos = ds.position(php_intval(params["activityId"]))
    if pos is None:
        raise ApiError("NOT_FOUND")
    result = [{"entityTypeId": t, "entityId": e} for t, e in ds.bindings(pos)]
    return CallResult(result, ctx.portal.settings.cost_other)


def fields_method(params: dict[str, Any], ctx: CallContext) -> CallResult:
    """``crm.activity.fields``: the recorded answer, key order intact."""
    return CallResult(activity_fields(), ctx.portal.settings.cost_other)


def communication_fields_method(params: dict[str, Any], ctx: CallContext) -> CallResult:
    """``crm.activity.communication.fields``."""
    return CallResult(communication_fields(), ctx.portal.settings.cost_other)


def server_time(params: dict[str, Any], ctx: CallContext) -> CallResult:
    """``server.time``: portal time, ISO with the portal offset."""
    return CallResult(ctx.portal.clock.fmt(int(ctx.now)), ctx.portal.settings.cost_other)


def profile(params: dict[str, Any], ctx: CallContext) -> CallResult:
    """``profile``: the user behind the webhook/token (an admin, so permissions never filter)."""
    result = {
        "ID": str(ctx.caller.user_id),
        "ADMIN": True,
        "NAME": "Emulator",
        "LAST_NAME": "Admin",
        "PERSONAL_GENDER": "",
        "TIME_ZONE": "",
        "TIME_ZONE_OFFSET": ctx.portal.clock.offset,
    }
    return CallResult(result, ctx.portal.settings.cost_other)


def scope(params: dict[str, Any], ctx: CallContext) -> CallResult:
    """``scope``: granted scopes."""
    return CallResult(list(ctx.portal.settings.scope), ctx.portal.settings.cost_other)


Handler = Callable[[dict[str, Any], "CallContext"], CallResult]

# method -> (handler, required scope or None for basic methods)
METHODS: dict[str, tuple[Handler, str | None]] = {
    "crm.activity.list": (activity_list, "crm"),
    "crm.activity.get": (activity_get, "crm"),
    "crm.activity.fields": (fields_method, "crm"),
    "crm.activity.binding.list": (binding_list, "crm"),
    "crm.activity.communication.fields": (communication_fields_method, "crm"),
    "server.time": (server_time, None),
    "profile": (profile, None),
    "scope": (scope, None),
}
NOT_IN_BATCH = frozenset({"batch", "download", "upload"})
