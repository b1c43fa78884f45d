"""Runtime-tunable portal settings: limits, cost model, latency, scope, auth details.

Everything here can be changed while the emulator runs (``POST /_emulator/config`` or
``portal.configure(...)``), so one emulator can play a quiet portal and a busy one in a test.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

DEFAULT_SCOPE = ("crm", "user_brief")


@dataclass
class Settings:
    """All knobs. Modelled seconds are multiplied by ``time_factor`` to get real seconds."""

    limits: bool = False
    time_factor: float = 1.0
    latency: bool = False
    bucket_rate: float = 2.0
    bucket_size: float = 50.0
    operating_limit: float = 480.0
    operating_window: float = 600.0
    operating_min_record: float = 0.1
    cost_keyset_page: float = 0.030
    cost_offset_page: float = 0.030
    # The docs time one counted page at 49.9 s on 2.39M rows: about 2.08 s per 100,000.
    cost_count_per_100k: float = 2.08
    cost_skip_per_100k: float = 0.2
    cost_other: float = 0.005
    # A cloud request is cut off after 60 s: the front end answers 504 (0 = no cut-off).
    request_cutoff: float = 60.0
    scope: list[str] = field(default_factory=lambda: list(DEFAULT_SCOPE))
    require_https: bool = False
    access_token_ttl: float = 3600.0
    access_token_uses: int = 0  # REST requests one access token answers; 0 = no limit
    error_statuses: str = "documented"
    unstable_ties: bool = False
    fault_reset_seconds: float = 2.0
    # CCrmActivity::SaveCommunications deletes and re-inserts an activity's communications
    # (new IDs) on every save with communications; false keeps their IDs across updates.
    rekey_communications: bool = True
    # crm.type.list answers only CRM admins (isCrmAdmin); false models a non-admin webhook.
    crm_admin: bool = True
    # "simple" CRM has no leads (crm.settings.mode.get answers 2, leads are refused).
    crm_mode: str = "classic"
    # What crm.item.list for leads answers in simple mode (UNCERTAIN on a live portal):
    # "denied" -> 403 ACCESS_DENIED, "empty" -> an empty list (leads hidden, none created).
    simple_mode_leads: str = "denied"
    # Extra modelled seconds of a crm.item.list page under select '*' / 'UF_*' (UF joins, fm).
    cost_item_select_all: float = 0.02

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update; unknown keys or bad values raise ValueError."""
        known = {f.name: f for f in fields(self)}
        staged: dict[str, Any] = {}
        for key, value in changes.items():
            if key not in known:
                raise ValueError(f"unknown setting: {key}")
            current = getattr(self, key)
            if isinstance(current, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"{key} must be true or false")
            elif isinstance(current, int):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"{key} must be a non-negative integer")
            elif isinstance(current, float):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise ValueError(f"{key} must be a non-negative number")
                value = float(value)
            elif isinstance(current, list):
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ValueError(f"{key} must be a list of strings")
                value = list(value)
            elif key == "error_statuses" and value not in ("documented", "source"):
                raise ValueError("error_statuses must be 'documented' or 'source'")
            elif key == "crm_mode" and value not in ("classic", "simple"):
                raise ValueError("crm_mode must be 'classic' or 'simple'")
            elif key == "simple_mode_leads" and value not in ("denied", "empty"):
                raise ValueError("simple_mode_leads must be 'denied' or 'empty'")
            staged[key] = value
        if staged.get("time_factor", self.time_factor) <= 0:
            raise ValueError("time_factor must be > 0")
        for key, value in staged.items():
            setattr(self, key, value)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return asdict(self)
