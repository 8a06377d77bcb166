"""Co-reply and co-mention traces: the same target, replied to or mentioned within the window."""

from __future__ import annotations

from vigil.detect.traces.base import TraceSpec, posts_events

CO_REPLY = TraceSpec(
    name="co_reply",
    description="replied to the same post within the window",
    events_sql=posts_events("platform || ':' || reply_to", where="reply_to IS NOT NULL"),
)

CO_MENTION = TraceSpec(
    name="co_mention",
    description="mentioned the same account within the window",
    # Handles are unique only within a platform; mentions are stored lower-case without '@', so
    # 'platform:@handle' is the account signal's normal form of the mentioned handle.
    events_sql=posts_events("platform || ':@' || x", unnest="mentions"),
    signal_kinds=("account",),
)
