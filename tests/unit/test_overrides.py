"""Every singer-sdk hook the tap overrides carries ``@override``.

Then a hook the SDK renames or drops is a type error (mypy checks ``@override`` against the
base class), instead of a method the SDK silently stops calling.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from functools import cached_property
from typing import Any

import tap_bitrix24


def tap_classes() -> list[type]:
    """The tap's classes (the emulator does not subclass singer-sdk)."""
    classes: dict[str, type] = {}
    for info in pkgutil.walk_packages(tap_bitrix24.__path__, "tap_bitrix24."):
        if info.name.startswith(("tap_bitrix24.emulator", "tap_bitrix24.__main__")):
            continue
        module = importlib.import_module(info.name)
        for cls in vars(module).values():
            if inspect.isclass(cls) and cls.__module__ == module.__name__:
                classes[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return list(classes.values())


def _function(member: Any) -> Any:
    """The plain function behind a property, cached property, classmethod or staticmethod."""
    if isinstance(member, property):
        return member.fget
    if isinstance(member, cached_property):
        return member.func
    return getattr(member, "__func__", member)


def _sdk_overrides() -> list[tuple[type, str, Any]]:
    found = []
    for cls in tap_classes():
        sdk_bases = [b for b in cls.__mro__[1:] if b.__module__.startswith("singer_sdk.")]
        for name, member in vars(cls).items():
            if name.startswith("__") or not inspect.isfunction(_function(member)):
                continue
            if any(name in vars(base) for base in sdk_bases):
                found.append((cls, name, member))
    return found


def test_the_tap_overrides_sdk_hooks() -> None:
    names = {name for _, name, _ in _sdk_overrides()}
    assert {"discover_streams", "load_state", "get_records", "request_decorator"} <= names


def test_every_sdk_override_is_marked() -> None:
    unmarked = [
        f"{cls.__module__}.{cls.__qualname__}.{name}"
        for cls, name, member in _sdk_overrides()
        if not getattr(_function(member), "__override__", False)
    ]
    assert unmarked == []
