"""Keep secrets out of logs, error messages and records.

Webhook secrets, tokens and client secrets are registered once; every log record the process
writes passes through :class:`RedactingFilter`, and URLs lose their ``auth`` parameter.
"""

from __future__ import annotations

import logging
import re
import threading

_MASK = "***"
_secrets: set[str] = set()
_lock = threading.Lock()
_AUTH_PARAM = re.compile(r"([?&](?:auth|access_token|refresh_token|client_secret)=)[^&\s\"']*")


def register_secret(value: str | None) -> None:
    """Remember ``value`` so that it is masked wherever it would be printed."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """Mask every registered secret and every auth-like URL parameter in ``text``."""
    if not text:
        return text
    text = _AUTH_PARAM.sub(r"\1" + _MASK, text)
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, _MASK)
    return text


def strip_auth_param(url: str) -> str:
    """Remove the caller's ``auth`` token from a file URL, keeping everything else as written.

    Parameters are split on ``&`` by hand (no decoding and re-encoding): every file field of
    every item goes through here.
    """
    if "auth=" not in url:
        return url
    head, question, rest = url.partition("?")
    query, hash_mark, fragment = rest.partition("#")
    kept = "&".join(p for p in query.split("&") if not p.startswith("auth="))
    return head + (question if kept else "") + kept + hash_mark + fragment


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in the final message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message once, mask it, and drop the arguments."""
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the log line
            message = str(record.msg)
        masked = redact(message)
        if masked != message or record.args:
            record.msg = masked
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def install_log_redaction() -> None:
    """Attach the redacting filter to every handler of the root logger (idempotent)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
