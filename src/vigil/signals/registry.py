"""The signal types Vigil knows, built once from a declarative list of modules.

Adding a type means writing ``vigil/signals/<name>.py`` with a module-level ``SIGNAL_TYPE`` and
listing the module in ``SIGNAL_TYPE_MODULES``. The registry checks, when first used, that every
name is unique and well formed, that each type's examples normalize to themselves, and that
thresholds are consistent, so a broken plug-in fails at start-up rather than on the first signal.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from types import MappingProxyType

from vigil.core.errors import ConfigError, InputError, VigilError
from vigil.signals.base import DistanceSignalType, SignalType

SIGNAL_TYPE_MODULES = (
    "vigil.signals.account",
    "vigil.signals.url",
    "vigil.signals.domain",
    "vigil.signals.hashtag",
    "vigil.signals.text_exact",
    "vigil.signals.text_minhash",
    "vigil.signals.image_pdq",
    "vigil.signals.image_md5",
    "vigil.signals.narrative",
    "vigil.signals.technique",
)

_NAME = re.compile(r"[a-z][a-z0-9_]{1,39}")


def validate_signal_types(types: Iterable[SignalType]) -> dict[str, SignalType]:
    """Check a set of types can live together; ConfigError naming the offender if not."""
    by_name: dict[str, SignalType] = {}
    for signal_type in types:
        name = getattr(signal_type, "name", None)
        where = type(signal_type).__qualname__
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigError(f"signal type {where} has invalid name {name!r}; expected lower_snake_case")
        if name in by_name:
            raise ConfigError(
                f"signal type name {name!r} is used by both {type(by_name[name]).__qualname__} and {where}"
            )
        if not signal_type.examples:
            raise ConfigError(f"signal type {name!r} has no examples")
        for example in signal_type.examples:
            try:
                normalized = signal_type.normalize(example)
            except VigilError as exc:
                raise ConfigError(f"signal type {name!r} rejects its own example {example!r}: {exc}") from exc
            if normalized != example:
                raise ConfigError(f"signal type {name!r} example {example!r} is not normalized")
        if isinstance(signal_type, DistanceSignalType) and signal_type.default_threshold is None:
            raise ConfigError(f"signal type {name!r} matches by distance but has no default threshold")
        by_name[name] = signal_type
    return by_name


@lru_cache(maxsize=1)
def _registry() -> Mapping[str, SignalType]:
    types = []
    for module_name in SIGNAL_TYPE_MODULES:
        module = importlib.import_module(module_name)
        signal_type = getattr(module, "SIGNAL_TYPE", None)
        if not isinstance(signal_type, SignalType):
            raise ConfigError(f"module {module_name} defines no SIGNAL_TYPE instance of SignalType")
        types.append(signal_type)
    return MappingProxyType(validate_signal_types(types))


def signal_types() -> Mapping[str, SignalType]:
    """Every known type by name, in registration order."""
    return _registry()


def get_signal_type(name: str) -> SignalType:
    """The type called ``name``; InputError listing the known names if there is none."""
    registry = _registry()
    try:
        return registry[name]
    except (KeyError, TypeError):
        known = ", ".join(registry)
        raise InputError(
            f"unknown signal type {name!r}; known types: {known}", signal_type=str(name)
        ) from None


def normalize(name: str, value: str) -> str:
    """``get_signal_type(name).normalize(value)``: the entry point the exchange uses on submission."""
    signal_type = get_signal_type(name)
    if not isinstance(value, str):
        raise InputError(f"{name} value must be a string, got {type(value).__name__}")
    return signal_type.normalize(value)
