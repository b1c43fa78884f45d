"""Errors the user has to act on: each carries a one-line message and an exit code.

The CLI prints ``str(error)`` on one line and exits with ``exit_code``; no traceback, because
the message already says what to fix.
"""

from __future__ import annotations


class TapError(Exception):
    """An error that ends the run with a clear message instead of a traceback."""

    exit_code = 1


class ConfigError(TapError):
    """A setting is missing, malformed or inconsistent; the message names the setting."""

    exit_code = 2


class StateError(TapError):
    """The STATE given to the tap cannot be used; the message says how to recover."""

    exit_code = 2
