"""REST errors: the ``{"error", "error_description"}`` body and the HTTP status per code.

Docs and server source disagree on statuses of auth-layer errors (the source sends 401 for most);
the emulator answers the documented ones by default and the source's with
``error_statuses="source"``. Clients must switch on the code, never on the status.
"""

from __future__ import annotations

DOCUMENTED_STATUS: dict[str, int] = {
    "INTERNAL_SERVER_ERROR": 500,
    "ERROR_UNEXPECTED_ANSWER": 500,
    "QUERY_LIMIT_EXCEEDED": 503,
    "OPERATION_TIME_LIMIT": 429,
    "OVERLOAD_LIMIT": 503,
    "NO_AUTH_FOUND": 401,
    "expired_token": 401,
    "insufficient_scope": 403,
    "INVALID_CREDENTIALS": 403,
    "user_access_error": 403,
    "ACCESS_DENIED": 403,
    "INVALID_REQUEST": 400,
    "ERROR_METHOD_NOT_FOUND": 404,
    "ERROR_BATCH_LENGTH_EXCEEDED": 400,
    "ERROR_BATCH_METHOD_NOT_ALLOWED": 405,
    "NOT_FOUND": 400,
    "100": 400,
    "": 400,
}

# What the PHP source throws: every OAuthException defaults to 401.
SOURCE_STATUS: dict[str, int] = {
    **DOCUMENTED_STATUS,
    "insufficient_scope": 401,
    "INVALID_CREDENTIALS": 401,
    "user_access_error": 401,
    "ACCESS_DENIED": 401,
    "OVERLOAD_LIMIT": 401,
    "INVALID_REQUEST": 401,
}

DESCRIPTIONS: dict[str, str] = {
    "INTERNAL_SERVER_ERROR": "Internal server error",
    "QUERY_LIMIT_EXCEEDED": "Too many requests",
    "OPERATION_TIME_LIMIT": "Method is blocked due to operation time limit.",
    "OVERLOAD_LIMIT": "REST API is blocked due to overload.",
    "NO_AUTH_FOUND": "Wrong authorization data",
    "expired_token": "The access token provided has expired.",
    "insufficient_scope": (
        "The request requires higher privileges than provided by the access token"
    ),
    "ACCESS_DENIED": "REST API is available only on commercial plans.",
    "INVALID_REQUEST": "Https required.",
    "ERROR_METHOD_NOT_FOUND": "Method not found!",
    "ERROR_BATCH_LENGTH_EXCEEDED": "Max batch length exceeded",
    "ERROR_BATCH_METHOD_NOT_ALLOWED": "Method is not allowed for batch usage",
    "NOT_FOUND": "Element not found",
}


class ApiError(Exception):
    """A REST error answer (top level) or a ``result_error`` entry (inside batch)."""

    def __init__(self, code: str, description: str | None = None) -> None:
        self.code = code
        self.description = description if description is not None else DESCRIPTIONS.get(code, "")
        super().__init__(f"{code}: {self.description}")

    def body(self) -> dict[str, str]:
        """The JSON error object."""
        return {"error": self.code, "error_description": self.description}

    def status(self, mode: str = "documented") -> int:
        """HTTP status for this code under the chosen status table."""
        table = SOURCE_STATUS if mode == "source" else DOCUMENTED_STATUS
        return table.get(self.code, 400)
