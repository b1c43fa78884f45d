"""The in-memory portal: data, auth, limits, faults, schedules, stats -- one lock around it all.

``handle_rest`` runs one HTTP request end to end under the lock and returns a :class:`Reply`;
sleeping (latency model, ``slow`` faults) happens in the HTTP thread after the lock is released,
so concurrent requests wait concurrently, like on a real server.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from .auth import Caller, OAuthError, TokenStore, bearer
from .batch import run_batch
from .config import Settings
from .crm_items import TypeStore, build_stores, check_item_ops, mutate_items
from .crm_methods import CRM_METHODS, ItemSelect, render
from .crm_schema import build_types
from .data import Dataset
from .dates import PortalClock
from .dict_methods import DICT_METHODS
from .dict_truth import dictionary_truth
from .errors import ApiError
from .faults import (
    BAD_GATEWAY_HTML,
    ERROR_CODE,
    FOREIGN_HTML,
    GATEWAY_TIMEOUT_HTML,
    Fault,
    FaultBook,
)
from .limits import LeakyBucket, OperatingLimiter
from .methods import METHODS, CallResult
from .php import Fragments, encode_tree, parse_str
from .product_rows import productrow_list
from .stage_history import StageLog, stage_history_list
from .userfields import USERFIELD_METHODS
from .users import USER_METHODS

JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
MUTATION_KEYS = ("update", "insert", "delete", "rebind", "merge")
HANDLERS = {
    **METHODS,
    **CRM_METHODS,
    **DICT_METHODS,
    **USER_METHODS,
    **USERFIELD_METHODS,
    "crm.stagehistory.list": (stage_history_list, "crm"),
    "crm.item.productrow.list": (productrow_list, "crm"),
}
DEFAULT_ITEMS = 2000  # items per CRM type unless configured (at least the activities' owners)
#: Schedule keys naming exact activities (lists of IDs), e.g. ``delete_ids``.
MUTATION_ID_KEYS = ("update_ids", "delete_ids", "rebind_ids")


@dataclass
class Reply:
    """An HTTP answer, plus what the HTTP thread must do outside the lock."""

    status: int
    body: bytes
    content_type: str = JSON_TYPE
    delay_before: float = 0.0
    delay_after: float = 0.0
    drop: bool = False


@dataclass
class CallContext:
    """What a method handler may use."""

    portal: Portal
    caller: Caller
    now: float
    base_url: str
    meter: dict[str, float] = field(default_factory=dict)


@dataclass
class Schedule:
    """Mutations applied automatically as the REST request counter advances."""

    after_requests: int
    every_requests: int
    times: int
    ops: dict[str, Any]  # MUTATION_KEYS counts and MUTATION_ID_KEYS id lists
    seed: int
    seen: int = 0
    fired: int = 0


@dataclass
class Stats:
    """Counters a test reads to check what a client did."""

    requests: int = 0
    method_calls: Counter[str] = field(default_factory=Counter)
    rows: int = 0
    server_seconds: float = 0.0
    errors_sent: Counter[str] = field(default_factory=Counter)
    http_status: Counter[str] = field(default_factory=Counter)
    faults_fired: Counter[str] = field(default_factory=Counter)
    oauth_requests: int = 0
    oauth_params: Counter[str] = field(default_factory=Counter)  # names the token server got
    mutations: Counter[str] = field(default_factory=Counter)
    counted_pages: int = 0  # activity/item list calls with start >= 0 (each runs a COUNT)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready snapshot."""
        return {
            "requests": self.requests,
            "method_calls": dict(self.method_calls),
            "rows": self.rows,
            "server_seconds": round(self.server_seconds, 6),
            "errors_sent": dict(self.errors_sent),
            "http_status": dict(self.http_status),
            "faults_fired": dict(self.faults_fired),
            "oauth_requests": self.oauth_requests,
            "oauth_params": dict(self.oauth_params),
            "mutations": dict(self.mutations),
            "counted_pages": self.counted_pages,
        }


def _item_count(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 5_000_000:
        raise ValueError(f"items[{key}] must be an integer 0..5,000,000")
    return value


class Portal:
    """A Bitrix24 portal holding CRM activities, answering the REST API."""

    def __init__(
        self,
        activities: int = 1000,
        seed: int = 1,
        webhook_secret: str = "emulator-webhook-secret",
        user_id: int = 1,
        client_id: str = "local.emulator.app",
        client_secret: str = "emulator-client-secret",
        refresh_token: str = "emulator-refresh-0",
        utc_offset: str = "+03:00",
        anchor: int | None = None,
        items: dict[Any, int] | None = None,
        **settings: Any,
    ) -> None:
        if not 0 <= int(activities) <= 5_000_000:
            raise ValueError("activities must be between 0 and 5,000,000")
        self.lock = threading.RLock()
        self.seed = int(seed)
        self.webhook_secret = webhook_secret
        self.user_id = int(user_id)
        self.clock = PortalClock(utc_offset)
        self.settings = Settings()
        self.settings.update(settings)
        now = int(time.time())
        self.anchor = int(anchor) if anchor is not None else now - now % 86400
        self.data = Dataset(int(activities), self.seed, self.anchor, self.clock)
        self.items: dict[int, TypeStore] = self._build_items(items)
        self.stage_log = StageLog()  # stage moves after the start (crm.stagehistory.list)
        self.data.item_exists = self._item_exists
        self.tokens = TokenStore(client_id, client_secret, refresh_token, self.user_id)
        self.bucket = LeakyBucket()
        self.limiter = OperatingLimiter()
        self.reset_hints: dict[str, float] = {}  # method -> reset moment announced by a 429 fault
        self.faults = FaultBook()
        self.schedules: list[Schedule] = []
        self.stats_data = Stats()
        self.base_url = "http://127.0.0.1"
        self.member_id = f"{random.Random(self.seed).getrandbits(128):032x}"
        self._mutation_counter = 0

    def _build_items(self, items: dict[Any, int] | None) -> dict[int, TypeStore]:
        """Item counts per type: ``items[type]``, else ``items["*"]``, else the default."""
        types = build_types()
        given = dict(items or {})
        default = given.pop("*", max(DEFAULT_ITEMS, self.data.owner_max))
        counts = {t: _item_count("*", default) for t in types}
        for key, value in given.items():
            try:
                entity_type = int(key)
            except (TypeError, ValueError):
                raise ValueError(f"items: bad entityTypeId {key!r}") from None
            if entity_type not in types:
                known = ", ".join(str(t) for t in types)
                raise ValueError(f"items: entityTypeId {entity_type} is not one of {known}")
            counts[entity_type] = _item_count(str(entity_type), value)
        return build_stores(types, counts, self.seed, self.anchor)

    def _merge_items(self, entity_type: int, from_id: int, into_id: int, now: int) -> None:
        """The merged-away item is deleted; the kept one is saved (updatedTime = now)."""
        store = self.items.get(entity_type)
        if store is not None:
            self.stage_log.deleted(store, store.delete([from_id]))
            self.stage_log.updated(store, store.update([into_id], now), now)

    def _item_exists(self, entity_type: int, entity_id: int) -> bool | None:
        store = self.items.get(entity_type)
        return None if store is None else store.exists(entity_id)

    # ================================================================== REST
    def handle_rest(
        self,
        path: str,
        query: str,
        body: bytes,
        headers: dict[str, str],
        client: str,
    ) -> Reply:
        """Answer ``/rest/...``."""
        with self.lock:
            started = time.time()
            self.stats_data.requests += 1
            self._run_schedules()
            method, webhook = _route(path)
            params = _merge_params(query, body, headers)
            fault = self.faults.for_request(method)
            delay_before = 0.0
            truncate = False
            if fault is not None:
                self.stats_data.faults_fired[fault.kind] += 1
                early = self._apply_request_fault(fault, method, started)
                if early is not None:
                    return early
                delay_before = fault.seconds if fault.kind == "slow" and fault.seconds else 0.0
                if fault.kind == "slow" and fault.seconds is None:
                    delay_before = 1.0
                truncate = fault.kind == "truncate"
            try:
                reply, cost = self._serve(method, webhook, params, headers, client, started)
            except ApiError as exc:
                reply, cost = self._error(exc), 0.0
            cutoff = self.settings.request_cutoff
            if cutoff and cost > cutoff:
                # The cloud front end gives up at the cut-off; the work done still counts.
                reply, cost = Reply(504, GATEWAY_TIMEOUT_HTML, HTML_TYPE), cutoff
            if self.settings.latency:
                # The modelled server time includes the work just done: sleep only the rest.
                spent = time.time() - started
                reply.delay_after = max(0.0, cost * self.settings.time_factor - spent)
            reply.delay_before = delay_before
            if truncate and reply.body:
                reply.body = reply.body[: max(1, len(reply.body) // 2)]
            self.stats_data.http_status[str(reply.status)] += 1
            return reply

    def _apply_request_fault(self, fault: Fault, method: str, now: float) -> Reply | None:
        kind = fault.kind
        if kind == "drop":
            return Reply(0, b"", drop=True)
        if kind == "502_html":
            self.stats_data.http_status["502"] += 1
            return Reply(502, BAD_GATEWAY_HTML, HTML_TYPE)
        if kind == "html_200":
            self.stats_data.http_status["200"] += 1
            return Reply(200, FOREIGN_HTML, HTML_TYPE)
        if kind == "expire_token":
            self.tokens.expire_all(now)
            return None
        if kind in ERROR_CODE:
            if kind == "429":
                self._hint_reset(method, fault, now)
            reply = self._error(ApiError(ERROR_CODE[kind]))
            self.stats_data.http_status[str(reply.status)] += 1
            return reply
        return None

    def _hint_reset(self, method: str, fault: Fault, now: float) -> None:
        seconds = fault.seconds if fault.seconds is not None else self.settings.fault_reset_seconds
        self.reset_hints[method] = now + seconds * self.settings.time_factor

    def _error(self, exc: ApiError) -> Reply:
        self.stats_data.errors_sent[exc.code] += 1
        return Reply(exc.status(self.settings.error_statuses), encode_tree(exc.body()))

    def _authenticate(
        self, webhook: tuple[str, str] | None, params: dict[str, Any], headers: dict[str, str]
    ) -> Caller:
        if webhook is not None:
            user, secret = webhook
            if user != str(self.user_id) or secret != self.webhook_secret:
                raise ApiError("NO_AUTH_FOUND")
            return Caller("webhook", f"webhook:{secret}", secret, self.user_id)
        token = params.pop("auth", None) or params.pop("access_token", None) or bearer(headers)
        if not isinstance(token, str) or not token:
            raise ApiError("NO_AUTH_FOUND")
        problem = self.tokens.check(token, time.time(), self.settings.access_token_uses)
        if problem:
            raise ApiError(problem)
        return Caller("oauth", f"app:{self.tokens.client_id}", token, self.user_id)

    def _serve(
        self,
        method: str,
        webhook: tuple[str, str] | None,
        params: dict[str, Any],
        headers: dict[str, str],
        client: str,
        started: float,
    ) -> tuple[Reply, float]:
        settings = self.settings
        if settings.require_https:
            raise ApiError("INVALID_REQUEST")
        if settings.limits and not self.bucket.hit(
            client, started, settings.bucket_rate, settings.bucket_size, settings.time_factor
        ):
            raise ApiError("QUERY_LIMIT_EXCEEDED")
        caller = self._authenticate(webhook, params, headers)
        ctx = CallContext(self, caller, started, self.base_url)
        if method == "batch":
            self.stats_data.method_calls["batch"] += 1

            def sub(name: str, sub_params: dict[str, Any], index: int) -> tuple[CallResult, Any]:
                try:
                    return self._call(name, sub_params, ctx, index)
                except ApiError as exc:
                    self.stats_data.errors_sent[exc.code] += 1
                    raise

            result, cost, _ = run_batch(params, sub)
            finish = time.time() + (cost * settings.time_factor if settings.latency else 0.0)
            body: dict[str, Any] = {"result": result}
            body["time"] = self._time_block(ctx, "batch", started, finish, cost)
        else:
            outcome, block = self._call(method, params, ctx, None)
            cost = outcome.cost
            result = outcome.result
            body = {"result": result.fragments if isinstance(result, Fragments) else result}
            if outcome.next is not None:
                body["next"] = outcome.next
            if outcome.total is not None:
                body["total"] = outcome.total
            if settings.latency:
                block["finish"] = block["start"] + max(
                    block["duration"], cost * settings.time_factor
                )
                block["duration"] = block["finish"] - block["start"]
                block["date_finish"] = self.clock.fmt(int(block["finish"]))
            body["time"] = block
        self._finalize(ctx, started)
        return Reply(200, encode_tree(body)), cost

    def _call(
        self, method: str, params: dict[str, Any], ctx: CallContext, index: int | None
    ) -> tuple[CallResult, dict[str, Any]]:
        """One method call (top level, or a batch sub-call when `index` is set)."""
        entry = HANDLERS.get(method)
        if entry is None:
            raise ApiError("ERROR_METHOD_NOT_FOUND")
        handler, needed_scope = entry
        if index is not None:
            fault = self.faults.for_subcall(method, index)
            if fault is not None:
                self.stats_data.faults_fired[fault.kind] += 1
                if fault.kind in ERROR_CODE:
                    if fault.kind in ("429", "subcall_429"):
                        self._hint_reset(method, fault, ctx.now)
                    raise ApiError(ERROR_CODE[fault.kind])
        if needed_scope is not None and needed_scope not in self.settings.scope:
            raise ApiError("insufficient_scope")
        key = (ctx.caller.entity, method)
        over = self.limiter.window_sum(key, time.time()) > self.settings.operating_limit
        if self.settings.limits and over:
            raise ApiError("OPERATION_TIME_LIMIT")
        self.stats_data.method_calls[method] += 1
        start = time.time()
        outcome = handler(params, ctx)
        ctx.meter[method] = ctx.meter.get(method, 0.0) + outcome.cost
        self.stats_data.server_seconds += outcome.cost
        self.stats_data.rows += outcome.rows
        return outcome, self._time_block(ctx, method, start, time.time(), outcome.cost)

    def _time_block(
        self, ctx: CallContext, method: str, start: float, finish: float, processing: float
    ) -> dict[str, Any]:
        now = time.time()
        settings = self.settings
        key = (ctx.caller.entity, method)
        operating = 0.0
        if method != "batch":
            operating = self.limiter.window_sum(key, now) + ctx.meter.get(method, 0.0)
        reset = self.limiter.reset_at(
            key, now, ctx.now, settings.time_factor, settings.operating_window
        )
        # A scripted 429 comes with a correct, near reset: announced while it is pending ...
        armed = self.faults.armed_reset(method, settings.fault_reset_seconds)
        if armed is not None:
            reset = min(reset, math.ceil(now + armed * settings.time_factor))
        # ... and kept for its duration after it fired.
        hint = self.reset_hints.get(method)
        if hint is not None and hint > now:
            reset = math.ceil(hint)
        return {
            "start": start,
            "finish": finish,
            "duration": finish - start,
            "processing": round(processing, 6),
            "date_start": self.clock.fmt(int(start)),
            "date_finish": self.clock.fmt(int(finish)),
            "operating_reset_at": reset,
            "operating": round(operating, 6),
        }

    def _finalize(self, ctx: CallContext, started: float) -> None:
        """Record each method's per-request sum when it exceeds the threshold."""
        settings = self.settings
        now = time.time()
        for method, total in ctx.meter.items():
            if total > settings.operating_min_record:
                self.limiter.record(
                    (ctx.caller.entity, method),
                    total,
                    now,
                    started,
                    settings.time_factor,
                    settings.operating_window,
                )

    # ================================================================== OAuth server
    def handle_token(self, query: str, body: bytes, headers: dict[str, str]) -> Reply:
        """``/oauth/token/`` (stands in for oauth.bitrix.info)."""
        with self.lock:
            self.stats_data.oauth_requests += 1
            params = _merge_params(query, body, headers)
            self.stats_data.oauth_params.update(list(params))
            fault = self.faults.for_request("oauth.token")
            if fault is not None:
                self.stats_data.faults_fired[fault.kind] += 1
                early = self._apply_request_fault(fault, "oauth.token", time.time())
                if early is not None:
                    return early
            try:
                access, refresh, expires = self.tokens.refresh_grant(
                    params, time.time(), self.settings.access_token_ttl
                )
            except OAuthError as exc:
                self.stats_data.http_status[str(exc.status)] += 1
                return Reply(exc.status, json.dumps(exc.body).encode())
            self.stats_data.http_status["200"] += 1
            return Reply(200, json.dumps(self._token_answer(access, refresh, expires)).encode())

    def _token_answer(self, access: str, refresh: str, expires: float) -> dict[str, Any]:
        return {
            "access_token": access,
            "expires": int(expires),
            "expires_in": int(self.settings.access_token_ttl),
            "scope": ",".join(self.settings.scope),
            "domain": "oauth.bitrix.info",
            "server_endpoint": "https://oauth.bitrix.info/rest/",
            "status": "L",
            "client_endpoint": f"{self.base_url}/rest/",
            "member_id": self.member_id,
            "user_id": self.user_id,
            "refresh_token": refresh,
        }

    # ================================================================== control operations
    def grant_oauth(self) -> dict[str, Any]:
        """Fresh credentials for the OAuth app: client id/secret, refresh and access token."""
        with self.lock:
            access, refresh, expires = self.tokens.issue(
                time.time(), self.settings.access_token_ttl
            )
            return {
                "client_id": self.tokens.client_id,
                "client_secret": self.tokens.client_secret,
                "refresh_token": refresh,
                "access_token": access,
                "expires": int(expires),
                "client_endpoint": f"{self.base_url}/rest/",
            }

    def expire_tokens(self) -> dict[str, int]:
        """Expire every access token now."""
        with self.lock:
            return {"expired": self.tokens.expire_all(time.time())}

    def revoke_tokens(self) -> dict[str, int]:
        """Revoke every refresh token."""
        with self.lock:
            return {"revoked": self.tokens.revoke_refresh()}

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change settings at runtime; returns all settings."""
        with self.lock:
            self.settings.update(changes)
            return self.settings.as_dict()

    def add_faults(self, faults: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Register faults (see :mod:`faults`)."""
        with self.lock:
            return self.faults.add(list(faults))

    def clear_faults(self) -> None:
        """Remove every fault."""
        with self.lock:
            self.faults.clear()

    def stats(self) -> dict[str, Any]:
        """Counters since start or the last reset."""
        with self.lock:
            return self.stats_data.as_dict()

    def reset_stats(self, keep_limits: bool = False) -> None:
        """Zero the counters and (unless `keep_limits`) the rate-limit and operating-time state.

        A fresh start for the next client, which is what a comparison run needs.
        """
        with self.lock:
            self.stats_data = Stats()
            if not keep_limits:
                self.reset_limits()

    def reset_limits(self) -> None:
        """Empty the rate-limit buckets and the operating-time windows."""
        with self.lock:
            self.bucket.reset()
            self.limiter.reset()
            self.reset_hints.clear()

    def truth(self) -> dict[str, Any]:
        """What a complete, current extraction must contain."""
        with self.lock:
            ds = self.data
            fmt = self.clock.fmt
            return {
                "count": len(ds),
                "activities": {str(ds.ids[p]): fmt(ds.updated[p]) for p in range(len(ds))},
                "owners": {
                    str(ds.ids[p]): [ds.owner_type[p], ds.owner_id[p]] for p in range(len(ds))
                },
                "bindings": {
                    str(ds.ids[p]): [list(b) for b in ds.bindings(p)] for p in range(len(ds))
                },
            }

    def truth_items(self, entityTypeId: Any = None, rows: Any = True) -> dict[str, Any]:
        """Every current item of a type, for completeness and typing checks.

        ``{"count", "items": {id: updatedTime as printed}, "rows": {id: the row as
        crm.item.list prints it under select '*'}}`` (``rows=0`` leaves the rows out).
        """
        try:
            entity_type = int(entityTypeId)
        except (TypeError, ValueError):
            raise ValueError("entityTypeId is required (an integer)") from None
        with self.lock:
            store = self.items.get(entity_type)
            if store is None:
                raise ValueError(f"no CRM type {entity_type}")
            fmt = self.clock.fmt
            out: dict[str, Any] = {
                "count": len(store.ids),
                "items": {str(i): fmt(store.updated(i)) for i in store.ids},
            }
            if rows not in (False, "0", "false", "N"):
                sel = ItemSelect(None, store, False)
                secret = self.webhook_secret
                out["rows"] = {
                    str(i): render(store, i, sel, self.clock, self.base_url, secret)
                    for i in store.ids
                }
            return out

    def truth_dictionaries(self, kind: str | None = None) -> dict[str, Any]:
        """Statuses, pipelines, currencies, users, departments, product rows, stage history."""
        with self.lock:
            return dictionary_truth(self, kind)

    def truth_communications(self) -> dict[str, list[dict[str, Any]]]:
        """Every activity's current COMMUNICATIONS items, by activity ID (apart: it is big)."""
        with self.lock:
            ds = self.data
            return {str(ds.ids[p]): ds.communications(p) for p in range(len(ds))}

    def merge(self, entity_type_id: int, from_id: int, into_id: int) -> dict[str, Any]:
        """Merge one CRM entity into another (see :meth:`Dataset.merge`)."""
        for name, value in (
            ("entity_type_id", entity_type_id),
            ("from_id", from_id),
            ("into_id", into_id),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer")
        with self.lock:
            moved = self.data.merge(entity_type_id, from_id, into_id)
            self._merge_items(entity_type_id, from_id, into_id, int(time.time()))
            self.stats_data.mutations["merged"] += 1
            return {"merged": [[entity_type_id, from_id, into_id]], "moved": moved}

    def mutate(
        self,
        update: int = 0,
        insert: int = 0,
        delete: int = 0,
        rebind: int = 0,
        merge: int = 0,
        seed: int | None = None,
        ids: list[int] | None = None,
        update_ids: list[int] | None = None,
        delete_ids: list[int] | None = None,
        rebind_ids: list[int] | None = None,
        items: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Apply changes now (LAST_UPDATED = now, second precision); deletes are hard.

        ``merge`` merges that many random CRM entities (the owner of a random activity) into
        another of the same type: owners and bindings move, LAST_UPDATED does not.
        """
        for name, value in (
            ("update", update),
            ("insert", insert),
            ("delete", delete),
            ("rebind", rebind),
            ("merge", merge),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer")
        item_ops = check_item_ops(items or {}, self.items)
        with self.lock:
            if seed is None:
                seed = self.seed * 7919 + self._mutation_counter
            self._mutation_counter += 1
            rng = random.Random(int(seed))
            now = int(time.time())
            ds = self.data
            pool = [int(i) for i in ids] if ids else []
            if update_ids is None and pool and update:
                update_ids, pool = pool[:update], pool[update:]
            if delete_ids is None and pool and delete:
                delete_ids, pool = pool[:delete], pool[delete:]
            if rebind_ids is None and pool and rebind:
                rebind_ids, pool = pool[:rebind], pool[rebind:]
            taken: set[int] = set()
            if update_ids is None:
                update_ids = ds.pick_existing(rng, update, taken)
            taken |= set(update_ids)
            if delete_ids is None:
                delete_ids = ds.pick_existing(rng, delete, taken)
            taken |= set(delete_ids)
            if rebind_ids is None:
                rebind_ids = ds.pick_existing(rng, rebind, taken)
            updated = ds.update(
                [int(i) for i in update_ids], now, self.settings.rekey_communications
            )
            rebound = ds.rebind([int(i) for i in rebind_ids], rng, now)
            inserted = ds.insert(insert, rng, now)
            deleted = ds.delete([int(i) for i in delete_ids])
            merged = []
            for _ in range(merge if len(ds) else 0):
                entity_type, from_id, into_id = ds.pick_merge(rng)
                ds.merge(entity_type, from_id, into_id)
                self._merge_items(entity_type, from_id, into_id, now)
                merged.append([entity_type, from_id, into_id])
            counts = self.stats_data.mutations
            if merged:
                counts["merged"] += len(merged)
            counts["updated"] += len(updated)
            counts["inserted"] += len(inserted)
            counts["deleted"] += len(deleted)
            counts["rebound"] += len(rebound)
            changed_items = mutate_items(self.items, item_ops, rng, now)
            for key, per_type in changed_items.items():
                store = self.items[int(key)]
                self.stage_log.updated(store, per_type["updated"], now)
                self.stage_log.inserted(store, per_type["inserted"], now)
                self.stage_log.deleted(store, per_type["deleted"])
                for name, idents in list(per_type.items()):
                    counts[f"items_{name}"] += len(idents)
                dropped: list[int] = []
                unbound: list[int] = []
                for ident in per_type["deleted"]:
                    orphans, moved = ds.drop_entity(int(key), ident)
                    dropped += orphans
                    unbound += moved
                per_type["activities_deleted"] = dropped
                per_type["activities_unbound"] = unbound
            return {
                "items": changed_items,
                "updated": updated,
                "inserted": inserted,
                "deleted": deleted,
                "rebound": rebound,
                "merged": merged,
            }

    def schedule(
        self,
        after_requests: int = 0,
        every_requests: int = 1,
        times: int = 1,
        seed: int | None = None,
        **ops: Any,
    ) -> dict[str, Any]:
        """Apply mutations automatically: before REST request k+1, k+1+m, ... (t times)."""
        for name, value in ops.items():
            if name == "items":
                check_item_ops(value, self.items)
            elif name in MUTATION_ID_KEYS:
                if not isinstance(value, list) or not all(
                    isinstance(i, int) and not isinstance(i, bool) for i in value
                ):
                    raise ValueError(f"{name} must be a list of integer IDs")
            elif name not in MUTATION_KEYS:
                raise ValueError(f"unknown schedule key: {name}")
        counts = {k: v for k, v in ops.items() if k in MUTATION_KEYS}
        for name, value, minimum in (
            ("after_requests", after_requests, 0),
            ("every_requests", every_requests, 1),
            ("times", times, 1),
            *((k, v, 0) for k, v in counts.items()),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum}")
        with self.lock:
            if seed is None:
                seed = self.seed * 104_729 + len(self.schedules)
            entry = Schedule(after_requests, every_requests, times, dict(ops), int(seed))
            self.schedules.append(entry)
            return {"schedules": len(self.schedules)}

    def clear_schedules(self) -> None:
        """Stop all scheduled mutations."""
        with self.lock:
            self.schedules.clear()

    def _run_schedules(self) -> None:
        for entry in self.schedules:
            seen = entry.seen
            entry.seen += 1
            if entry.fired >= entry.times or seen < entry.after_requests:
                continue
            if (seen - entry.after_requests) % entry.every_requests:
                continue
            self.mutate(seed=entry.seed + entry.fired, **entry.ops)
            entry.fired += 1


def _route(path: str) -> tuple[str, tuple[str, str] | None]:
    """'/rest/1/secret/crm.activity.list.json' -> ('crm.activity.list', ('1', 'secret'))."""
    rest = path[len("/rest/") :] if path.startswith("/rest/") else ""
    parts = [unquote(p) for p in rest.split("/")]
    if parts and parts[-1] == "" and len(parts) > 1:
        parts = parts[:-1]
    webhook = None
    if len(parts) >= 3 and parts[0].isdigit():
        webhook = (parts[0], parts[1])
        parts = parts[2:]
    method = "/".join(parts).strip().lower()
    if method.endswith(".json"):
        method = method[:-5]
    return method, webhook


def _merge_params(query: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """GET and POST merged, POST wins; a malformed JSON body is silently ignored."""
    params = parse_str(query)
    if not body:
        return params
    ctype = headers.get("content-type", "").lower()
    if "application/json" in ctype:
        try:
            decoded = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            decoded = None
        if isinstance(decoded, dict):
            params.update(decoded)
        return params
    params.update(parse_str(body.decode("utf-8", errors="replace")))
    return params
