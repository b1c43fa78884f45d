"""Authentication: incoming webhooks and OAuth 2.0 with rotating refresh tokens.

Both are ``requests`` auth callables applied to every attempt of every request, so a retried
request always carries the current credential and URLs built elsewhere never hold a secret.

Bitrix24 issues a NEW refresh token on every refresh and the old one stops working. The tap
keeps the newest one in a :class:`TokenStore` file, so the next run (which still has the old
``refresh_token`` in its config) continues from there.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase

from tap_bitrix24.client.errors import Bitrix24Error, Kind, kind_of
from tap_bitrix24.client.redact import redact, register_secret
from tap_bitrix24.errors import TapError

logger = logging.getLogger("tap-bitrix24")

DEFAULT_TOKEN_URL = "https://oauth.bitrix.info/oauth/token/"


class WebhookAuth(AuthBase):
    """Insert ``<user_id>/<secret>/`` after ``/rest/`` in the request URL."""

    def __init__(self, rest_base: str, user_id: str, secret: str) -> None:
        self.rest_base = rest_base  # e.g. https://example.bitrix24.com/rest/
        self._prefix = f"{rest_base}{user_id}/{secret}/"
        self.secret = secret
        register_secret(secret)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Rewrite ``…/rest/<method>`` to ``…/rest/<uid>/<secret>/<method>``."""
        url = request.url or ""
        if url.startswith(self.rest_base) and not url.startswith(self._prefix):
            request.url = self._prefix + url[len(self.rest_base) :]
        return request

    @property
    def token(self) -> str:
        """The credential Bitrix24 embeds in file URLs (stripped from records)."""
        return self.secret

    def last_use(self) -> TokenUse:
        """Webhooks have one credential, never refreshed."""
        return TokenUse(0, 0)

    def refresh(self, used: TokenUse) -> bool:
        """Webhooks cannot be refreshed: an expired_token answer is fatal."""
        raise Bitrix24Error(
            "expired_token", hint="the portal treats the webhook as an expired OAuth token"
        )


@dataclass(frozen=True)
class TokenUse:
    """Which access token a request carried, and how many requests had carried it.

    ``generation`` is 0 for the token from the config or store, n after the n-th refresh of this
    run; ``count`` includes the request itself.
    """

    generation: int
    count: int

    @property
    def first_after_refresh(self) -> bool:
        """The first request with a token this run refreshed: a rejection means a bad token."""
        return self.generation > 0 and self.count == 1


class TokenStore:
    """A small JSON file (mode 0600) holding the newest OAuth tokens for one app and portal."""

    def __init__(self, path: Path, config_refresh_token: str) -> None:
        self.path = path
        self._origin = hashlib.sha256(config_refresh_token.encode()).hexdigest()[:16]

    @staticmethod
    def default_path(portal_url: str, client_id: str) -> Path:
        """Where tokens live unless ``token_store_path`` says otherwise."""
        base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        host = urlsplit(portal_url).netloc.replace(":", "_") or "portal"
        digest = hashlib.sha256(f"{portal_url}|{client_id}".encode()).hexdigest()[:10]
        return Path(base) / "tap-bitrix24" / f"oauth-{host}-{digest}.json"

    def load(self) -> dict[str, Any] | None:
        """Return the stored tokens if they descend from the configured refresh token."""
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise TapError(
                f"cannot read the OAuth token store {self.path} ({type(exc).__name__}); "
                "delete it and set a fresh refresh_token"
            ) from None
        if not isinstance(data, dict) or data.get("origin") != self._origin:
            # The config holds a refresh token we have not used yet: a new authorisation.
            return None
        return data

    def save(self, tokens: dict[str, Any]) -> None:
        """Atomically replace the store with ``tokens`` (readable by the owner only)."""
        record = {
            "origin": self._origin,
            "refresh_token": tokens.get("refresh_token"),
            "access_token": tokens.get("access_token"),
            "expires": tokens.get("expires"),
            "updated_at": int(time.time()),
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tokens-", dir=self.path.parent)
            with os.fdopen(fd, "w") as handle:
                json.dump(record, handle)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except OSError as exc:
            raise TapError(
                f"cannot write the OAuth token store {self.path} ({exc.strerror}); the refresh "
                "token Bitrix24 just issued would be lost: set token_store_path to a writable file"
            ) from None


class OAuthAuth(AuthBase):
    """Add ``auth=<access_token>`` to each request; refresh once on ``expired_token``."""

    def __init__(
        self,
        *,
        rest_base: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        access_token: str | None,
        token_url: str,
        store: TokenStore,
        session: requests.Session,
        timeout: float = 60.0,
    ) -> None:
        self.rest_base = rest_base
        self.client_id = client_id
        self._client_secret = client_secret
        self._token_url = token_url
        self._store = store
        self._session = session
        self._timeout = timeout
        self._lock = threading.Lock()
        self._generation = 0
        self._uses = 0  # requests that carried the current access token
        self._use_lock = threading.Lock()
        self._local = threading.local()  # the TokenUse of this thread's last request
        for secret in (client_secret, refresh_token, access_token):
            register_secret(secret)
        stored = store.load()
        if stored and stored.get("refresh_token"):
            self._refresh_token = str(stored["refresh_token"])
            self._access_token = stored.get("access_token") or None
        else:
            self._refresh_token = refresh_token
            self._access_token = access_token or None
        register_secret(self._refresh_token)
        register_secret(self._access_token)

    @property
    def token(self) -> str | None:
        """The current access token (Bitrix24 embeds it in file URLs)."""
        return self._access_token

    def last_use(self) -> TokenUse:
        """The token the calling thread's last request carried."""
        return getattr(self._local, "use", TokenUse(self._generation, 0))

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Attach the access token, fetching one first if the config gave none."""
        if self._access_token is None:
            self.refresh(TokenUse(self._generation, 0))
        with self._use_lock:
            token, self._uses = self._access_token, self._uses + 1
            self._local.use = TokenUse(self._generation, self._uses)
        request.prepare_url(_without_auth(request.url or ""), {"auth": token})
        return request

    def refresh(self, used: TokenUse) -> bool:
        """Exchange the refresh token for new tokens; True when this call did.

        Requests in flight all see a token expire: only the first to ask replaces the one
        ``used``, the others retry with the replacement.
        """
        with self._lock:
            if used.generation != self._generation and self._access_token is not None:
                return False
            tokens = self._request_tokens()
            self._access_token = str(tokens["access_token"])
            self._refresh_token = str(tokens["refresh_token"])
            register_secret(self._access_token)
            register_secret(self._refresh_token)
            self._store.save(tokens)
            with self._use_lock:
                self._generation += 1
                self._uses = 0
            logger.info("Refreshed the OAuth access token; the new refresh token is stored.")
            return True

    def _request_tokens(self) -> dict[str, Any]:
        params = {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            "refresh_token": self._refresh_token,
        }
        last_problem = ""
        for attempt in range(4):
            if attempt:
                time.sleep(min(2**attempt, 10))
            try:
                # The shared session carries this authenticator (the SDK arms it): disable it,
                # or the token request would also carry the current access token.
                response = self._session.get(
                    self._token_url, params=params, timeout=self._timeout, auth=_no_auth
                )
            except requests.RequestException as exc:
                last_problem = type(exc).__name__
                continue
            try:
                body = response.json()
            except ValueError:
                body = None
            if isinstance(body, dict) and body.get("access_token") and body.get("refresh_token"):
                return body
            code = str(body.get("error") or "") if isinstance(body, dict) else ""
            if response.status_code >= 500 or (code and kind_of(code) is not Kind.FATAL):
                last_problem = code or f"HTTP {response.status_code}"  # a server fault: retry
                continue
            if code:
                raise Bitrix24Error(code, redact(str(body.get("error_description", ""))))
            raise TapError(
                f"the OAuth server at {redact(self._token_url)} answered HTTP "
                f"{response.status_code} without tokens; check oauth_token_url"
            )
        raise TapError(
            f"cannot reach the OAuth server at {redact(self._token_url)} ({last_problem}); "
            "check oauth_token_url and the network"
        )


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """No credential: what the token server must receive is in the query already."""
    return request


def _without_auth(url: str) -> str:
    """Drop an ``auth`` parameter added by an earlier attempt."""
    with contextlib.suppress(ValueError):
        base, _, query = url.partition("?")
        if query:
            kept = "&".join(p for p in query.split("&") if not p.startswith("auth="))
            return f"{base}?{kept}" if kept else base
    return url
