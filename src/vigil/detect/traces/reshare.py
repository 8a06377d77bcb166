"""Co-reshare trace: resharing (retweeting, forwarding) the same post within the window."""

from __future__ import annotations

from vigil.detect.traces.base import TraceSpec, posts_events

CO_RESHARE = TraceSpec(
    name="co_reshare",
    description="reshared the same post within the window",
    # Post ids are unique only within a platform.
    events_sql=posts_events("platform || ':' || reshare_of", where="reshare_of IS NOT NULL"),
)
