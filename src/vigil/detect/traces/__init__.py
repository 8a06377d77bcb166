"""Traces of coordination: declarative specs run by the generic engine.

``STRUCTURAL_TRACES`` are the traces computed from posts columns alone; the text and image
traces live beside them in their own modules and are added by their pipelines.
"""

from __future__ import annotations

from collections.abc import Iterable

from vigil.core.errors import InputError
from vigil.detect.traces.base import ACCOUNT_SQL, TS_SQL, TraceSpec, posts_events, registry
from vigil.detect.traces.hashtags import CO_HASHTAG, CO_HASHTAG_SEQUENCE
from vigil.detect.traces.links import CO_DOMAIN, CO_LINK
from vigil.detect.traces.replies import CO_MENTION, CO_REPLY
from vigil.detect.traces.reshare import CO_RESHARE

STRUCTURAL_TRACES: dict[str, TraceSpec] = registry(
    [CO_LINK, CO_DOMAIN, CO_RESHARE, CO_REPLY, CO_MENTION, CO_HASHTAG, CO_HASHTAG_SEQUENCE]
)


def select_traces(
    names: Iterable[str] | None, available: dict[str, TraceSpec] | None = None
) -> list[TraceSpec]:
    """The specs named (all of ``available`` for None), failing with the known names on a typo."""
    known = STRUCTURAL_TRACES if available is None else available
    if names is None:
        return list(known.values())
    chosen = []
    for name in names:
        if name not in known:
            raise InputError(f"unknown trace {name!r}; known: {', '.join(sorted(known))}")
        chosen.append(known[name])
    return chosen


__all__ = [
    "ACCOUNT_SQL",
    "CO_DOMAIN",
    "CO_HASHTAG",
    "CO_HASHTAG_SEQUENCE",
    "CO_LINK",
    "CO_MENTION",
    "CO_REPLY",
    "CO_RESHARE",
    "STRUCTURAL_TRACES",
    "TS_SQL",
    "TraceSpec",
    "posts_events",
    "registry",
    "select_traces",
]
