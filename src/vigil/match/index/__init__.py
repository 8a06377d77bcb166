"""Fast indexes of signal values, and the factory that picks the best index for a type.

``new_index("image_pdq")`` gives a :class:`PdqIndex` (exact multi-index hashing),
``new_index("text_minhash")`` a :class:`MinHashLshIndex` (banded LSH), every other type its own
default (``SignalType.new_index``: a hash map for exact types, brute force for a new distance
type). ``load_index(directory)`` reopens any saved index, whatever its kind.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vigil.core.errors import ConfigError, InputError
from vigil.core.settings import Settings
from vigil.match.index.minhash import MinHashLshIndex, lsh_parameters
from vigil.match.index.pdq import PdqIndex
from vigil.signals.base import SignalType
from vigil.signals.index import ExactIndex, LinearIndex, SignalIndex, read_manifest
from vigil.signals.registry import get_signal_type

# Fast implementations by signal type name; a type not listed uses its own ``new_index``.
FAST_INDEXES: dict[str, Callable[[SignalType, float | None], SignalIndex]] = {
    "image_pdq": lambda signal_type, threshold: PdqIndex(signal_type, threshold),
    "text_minhash": lambda signal_type, threshold: MinHashLshIndex(signal_type, threshold),
}

INDEX_KINDS: dict[str, type[SignalIndex]] = {
    cls.kind: cls for cls in (ExactIndex, LinearIndex, PdqIndex, MinHashLshIndex)
}


def configured_thresholds(settings: Settings) -> dict[str, float]:
    """``settings.signal_thresholds`` checked: known type names, valid thresholds; ConfigError if not."""
    out: dict[str, float] = {}
    for name, threshold in settings.signal_thresholds.items():
        try:
            limit = get_signal_type(name).check_threshold(threshold)
        except InputError as exc:
            raise ConfigError(f"signal_thresholds: {exc.message}") from exc
        if limit is not None:
            out[name] = limit
    return out


def new_index(
    signal_type: str | SignalType, threshold: float | None = None, *, settings: Settings | None = None
) -> SignalIndex:
    """An empty index for ``signal_type`` (name or type) matching at ``threshold``; when that is
    None, at the threshold ``settings`` configures for the type, else the type's default."""
    resolved = get_signal_type(signal_type) if isinstance(signal_type, str) else signal_type
    if threshold is None and settings is not None:
        threshold = configured_thresholds(settings).get(resolved.name)
    fast = FAST_INDEXES.get(resolved.name)
    return fast(resolved, threshold) if fast else resolved.new_index(threshold)


def load_index(directory: Path) -> SignalIndex:
    """The index saved in ``directory`` by ``SignalIndex.save``; DataError if there is none."""
    from vigil.core.errors import DataError

    manifest = read_manifest(directory)
    cls = INDEX_KINDS.get(manifest.get("index", ""))
    if cls is None:
        raise DataError(
            f"unknown index kind {manifest.get('index')!r}",
            file=str(Path(directory) / "manifest.json"),
            expected=" or ".join(INDEX_KINDS),
        )
    return cls.load(directory, get_signal_type(str(manifest.get("signal_type"))))


__all__ = [
    "FAST_INDEXES",
    "INDEX_KINDS",
    "MinHashLshIndex",
    "PdqIndex",
    "configured_thresholds",
    "load_index",
    "lsh_parameters",
    "new_index",
]
