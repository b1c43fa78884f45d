"""Who is calling: incoming webhooks and OAuth 2.0 tokens, with rotation and expiry.

Refresh tokens rotate: every refresh issues a new one and retires the used one (reuse answers
``invalid_grant``). Access tokens live ``access_token_ttl`` real seconds and, with
``access_token_uses`` N > 0, N REST requests; an expired one answers ``expired_token``, an
unknown one ``NO_AUTH_FOUND``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: limits are per ``entity``; ``credential`` goes into file URLs."""

    kind: str  # "webhook" or "oauth"
    entity: str
    credential: str
    user_id: int


class OAuthError(Exception):
    """An answer of the OAuth server (``/oauth/token/``)."""

    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(code)
        self.status = status
        self.body = {"error": code, "error_description": description}


class TokenStore:
    """Access and refresh tokens of the one OAuth application the portal knows."""

    def __init__(
        self, client_id: str, client_secret: str, refresh_token: str, user_id: int
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.user_id = user_id
        self.access: dict[str, float] = {}  # token -> expiry (unix)
        self.uses: dict[str, int] = {}  # token -> REST requests it authorised
        self.refresh: set[str] = {refresh_token} if refresh_token else set()

    def issue(self, now: float, ttl: float) -> tuple[str, str, float]:
        """A fresh (access, refresh, expires) triple."""
        access = secrets.token_hex(32)
        refresh = secrets.token_hex(32)
        expires = now + ttl
        self.access[access] = expires
        self.refresh.add(refresh)
        return access, refresh, expires

    def refresh_grant(
        self, params: dict[str, Any], now: float, ttl: float
    ) -> tuple[str, str, float]:
        """``grant_type=refresh_token``: rotate; raise OAuthError like oauth.bitrix.info."""
        grant = str(params.get("grant_type", ""))
        if grant != "refresh_token":
            raise OAuthError(400, "invalid_request", "grant_type must be refresh_token")
        if (
            str(params.get("client_id", "")) != self.client_id
            or str(params.get("client_secret", "")) != self.client_secret
        ):
            raise OAuthError(401, "invalid_client", "Invalid client credentials")
        token = str(params.get("refresh_token", ""))
        if token not in self.refresh:
            raise OAuthError(400, "invalid_grant", "Invalid grant")
        self.refresh.discard(token)
        return self.issue(now, ttl)

    def check(self, token: str, now: float, max_uses: int = 0) -> str | None:
        """None when valid (counting one use), else the REST error code."""
        expires = self.access.get(token)
        if expires is None:
            return "NO_AUTH_FOUND"
        if expires <= now:
            return "expired_token"
        used = self.uses.get(token, 0)
        if max_uses and used >= max_uses:
            return "expired_token"
        self.uses[token] = used + 1
        return None

    def expire_all(self, now: float) -> int:
        """Expire every access token now (they answer expired_token from here on)."""
        for token in self.access:
            self.access[token] = min(self.access[token], now)
        return len(self.access)

    def revoke_refresh(self) -> int:
        """Invalidate every refresh token."""
        count = len(self.refresh)
        self.refresh.clear()
        return count


def bearer(headers: dict[str, str]) -> str | None:
    """Token of an ``Authorization: Bearer`` header."""
    value = headers.get("authorization", "")
    if value[:7].lower() == "bearer ":
        return value[7:].strip() or None
    return None
