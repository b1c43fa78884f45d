"""The private singer-sdk members in ``tap_bitrix24.sdk_private`` still exist on the installed SDK.

An SDK upgrade that renames, removes or re-signs one fails here, not in a sync. The last test
keeps every such use in that one module.
"""

from __future__ import annotations

import inspect
import logging
import pathlib
import re

import pytest
import singer_sdk.helpers._state as sdk_state
from singer_sdk.streams import RESTStream, Stream

import tap_bitrix24
from tap_bitrix24 import sdk_private
from tests.unit.test_overrides import tap_classes

# `self._name = ...` / `self._name: T = ...`: a private attribute the class's code assigns.
ASSIGNED = re.compile(r"self\.(_[a-z]\w*)\s*(?::[^=\n]*)?=(?!=)")


@pytest.mark.parametrize(
    ("owner", "name", "parameters"),
    [
        (Stream, "_write_state_message", ["self"]),
        (Stream, "_generate_record_messages", ["self", "record"]),
        (RESTStream, "_request", ["self", "prepared_request", "context"]),
        (RESTStream, "request_decorator", ["self", "func"]),
    ],
)
def test_private_sdk_methods_exist_with_the_signature_used(
    owner: type, name: str, parameters: list[str]
) -> None:
    method = getattr(owner, name, None)
    assert callable(method), f"singer-sdk has no {owner.__name__}.{name} any more"
    assert list(inspect.signature(method).parameters) == parameters


def test_the_unsorted_warning_comes_from_the_filtered_logger() -> None:
    assert isinstance(sdk_state.logger, logging.Logger)
    assert sdk_state.logger.name == sdk_private.STATE_LOGGER
    assert f'"{sdk_private.UNSORTED_WARNING}' in inspect.getsource(sdk_state)


def _sdk_private_names() -> set[str]:
    """Private members (methods and instance attributes) of the SDK classes the tap extends."""
    bases = {b for c in tap_classes() for b in c.__mro__ if b.__module__.startswith("singer_sdk")}
    names: set[str] = set()
    for cls in bases:
        names |= {n for n in vars(cls) if n.startswith("_") and not n.startswith("__")}
        names |= set(ASSIGNED.findall(inspect.getsource(cls)))
    return names


def test_private_sdk_members_are_used_only_in_sdk_private() -> None:
    root = pathlib.Path(tap_bitrix24.__file__).parent
    sources = {
        path: path.read_text(encoding="utf-8")
        for path in root.rglob("*.py")
        if "emulator" not in path.parts and path.name != "sdk_private.py"
    }
    own = set()  # the tap's own private names (none of them shadows an SDK one)
    for text in sources.values():
        own |= set(ASSIGNED.findall(text))
        own |= set(re.findall(r"def (_[a-z]\w*)", text))
    sdk_names = _sdk_private_names()
    assert {"_write_state_message", "_request"} <= sdk_names
    assert not own & sdk_names
    uses = [
        f"{path.relative_to(root)}: {match.group(0)}"
        for path, text in sources.items()
        for match in re.finditer(r"\.(_[a-z]\w*)\b|singer_sdk(\.\w+)*\._\w+", text)
        if match.group(1) is None or match.group(1) in sdk_names
    ]
    assert uses == []
