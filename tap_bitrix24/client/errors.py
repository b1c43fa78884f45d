"""Bitrix24 error codes: which ones heal by retrying, and what the user must do otherwise.

Bitrix24 signals errors with ``{"error": CODE, "error_description": TEXT}``; the HTTP status is
not reliable (docs and server disagree), so everything here switches on the code.
"""

from __future__ import annotations

from enum import Enum

from singer_sdk.exceptions import RetriableAPIError

from tap_bitrix24.errors import TapError


class Kind(Enum):
    """How the client reacts to an error."""

    RETRY = "retry"  # transient server or network fault: back off and repeat
    RATE = "rate"  # leaky bucket overflow: the bucket is full, slow down and repeat
    OPERATING = "operating"  # method blocked until operating_reset_at
    EXPIRED = "expired"  # OAuth access token expired: refresh once, repeat
    FATAL = "fatal"  # will not heal: stop with a message


#: code -> (kind, what the user must do). Unknown codes are fatal.
ERRORS: dict[str, tuple[Kind, str]] = {
    "INTERNAL_SERVER_ERROR": (Kind.RETRY, "a Bitrix24 server fault; retry later"),
    "ERROR_UNEXPECTED_ANSWER": (Kind.RETRY, "a Bitrix24 server fault; retry later"),
    "ERROR_CORE": (Kind.RETRY, "a Bitrix24 database fault; retry later"),
    "QUERY_LIMIT_EXCEEDED": (
        Kind.RATE,
        "the portal's request rate limit; lower requests_per_second/burst to match your plan",
    ),
    "OPERATION_TIME_LIMIT": (
        Kind.OPERATING,
        "the portal's operating-time limit for this method; wait for it to reset",
    ),
    "expired_token": (Kind.EXPIRED, "the OAuth access token expired"),
    "OVERLOAD_LIMIT": (
        Kind.FATAL,
        "Bitrix24 blocked this webhook/app for overload; contact Bitrix24 support before retrying",
    ),
    "NO_AUTH_FOUND": (
        Kind.FATAL,
        "wrong webhook secret or access token; check webhook_url (or the OAuth settings)",
    ),
    "authorization_error": (
        Kind.FATAL,
        "the portal could not authorise the caller; check webhook_url or the OAuth settings",
    ),
    "invalid_grant": (
        Kind.FATAL,
        "the OAuth refresh token is expired or revoked; re-authorise the app and set a new "
        "refresh_token",
    ),
    "invalid_client": (Kind.FATAL, "client_id or client_secret is wrong; check the OAuth app"),
    "insufficient_scope": (
        Kind.FATAL,
        "the webhook or app lacks the 'crm' scope; add the CRM permission to it",
    ),
    "INVALID_CREDENTIALS": (
        Kind.FATAL,
        "the user behind the webhook lacks the rights; use an administrator's webhook",
    ),
    "user_access_error": (Kind.FATAL, "the app is not allowed for this user; ask the admin"),
    "ACCESS_DENIED": (
        Kind.FATAL,
        "REST is not available on this portal's plan (it needs a commercial plan)",
    ),
    "WRONG_LICENSE": (Kind.FATAL, "the portal's license does not include this feature"),
    "INVALID_REQUEST": (Kind.FATAL, "the portal refused the request (real portals need https)"),
    "PORTAL_DELETED": (Kind.FATAL, "the portal is closed or deleted; check the portal address"),
    "APPLICATION_NOT_FOUND": (Kind.FATAL, "the OAuth app is not installed on this portal"),
    "ERROR_METHOD_NOT_FOUND": (
        Kind.FATAL,
        "the portal does not know this method; check that the URL points at a Bitrix24 portal",
    ),
    "ERROR_BATCH_LENGTH_EXCEEDED": (Kind.FATAL, "a batch held more than 50 commands (a tap bug)"),
    "ERROR_BATCH_METHOD_NOT_ALLOWED": (Kind.FATAL, "a method not allowed in batch (a tap bug)"),
    "NOT_FOUND": (Kind.FATAL, "the activity does not exist"),
}


class Bitrix24Error(TapError):
    """A Bitrix24 error that ends the run; ``str()`` is the one-line message for the user."""

    def __init__(self, code: str, description: str = "", *, hint: str | None = None) -> None:
        self.code = code
        self.description = description
        self.hint = hint if hint is not None else describe(code)
        label = code or "(empty code)"
        text = f"Bitrix24 error {label}"
        if description:
            text += f" ({description.strip()[:200]})"
        text += f": {self.hint}"
        super().__init__(text)


class TransientError(RetriableAPIError):
    """A fault that may heal on retry (an SDK ``RetriableAPIError``): its code, how to react."""

    def __init__(
        self,
        code: str,
        description: str = "",
        *,
        kind: Kind = Kind.RETRY,
    ) -> None:
        self.code = code
        self.description = description
        self.kind = kind
        super().__init__(f"{code}: {description}" if description else code)


def kind_of(code: str) -> Kind:
    """Return how the client treats ``code``; unknown codes are fatal."""
    return ERRORS.get(code, (Kind.FATAL, ""))[0]


def describe(code: str) -> str:
    """Return what the user must do about ``code``."""
    if code in ERRORS:
        return ERRORS[code][1]
    if code == "":
        return "the CRM refused the request; check the filter and the webhook user's CRM rights"
    return "an error this tap does not know; see the Bitrix24 REST documentation for the code"
