"""Source layouts ``vigil ingest`` understands, by their ``--layout`` name.

Add a layout by writing a module with an ``Adapter`` subclass and listing it in ``_ADAPTERS``;
names are checked unique when this package is imported.
"""

from __future__ import annotations

from vigil.core.errors import InputError
from vigil.ingest.adapters.base import Adapter, AdapterOptions
from vigil.ingest.adapters.generic import GenericAdapter
from vigil.ingest.adapters.german_elections import GermanElectionsAdapter
from vigil.ingest.adapters.twitter_io import TwitterIOAdapter
from vigil.ingest.adapters.vigil import VigilAdapter

_ADAPTERS: list[type[Adapter]] = [TwitterIOAdapter, GenericAdapter, VigilAdapter, GermanElectionsAdapter]
ADAPTERS: dict[str, type[Adapter]] = {adapter.name: adapter for adapter in _ADAPTERS}
if len(ADAPTERS) != len(_ADAPTERS):  # pragma: no cover - a programming error caught at import
    raise RuntimeError("two ingest adapters share a name")


def make_adapter(layout: str, options: AdapterOptions) -> Adapter:
    """The adapter for ``layout`` (``_`` or ``-``), or an InputError listing the known layouts."""
    key = layout.strip().lower().replace("_", "-")
    try:
        adapter = ADAPTERS[key]
    except KeyError:
        raise InputError(f"unknown layout {layout!r}; known: {', '.join(ADAPTERS)}") from None
    return adapter(options)


__all__ = ["ADAPTERS", "Adapter", "AdapterOptions", "make_adapter"]
