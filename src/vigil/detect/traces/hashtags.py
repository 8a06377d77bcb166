"""Co-hashtag traces: the same rare hashtag, and the same ordered sequence of hashtags.

A single hashtag is weak evidence unless rare, so the trace caps popularity on top of the IDF
weighting. A sequence of two or more hashtags in the same order is a template's fingerprint.
"""

from __future__ import annotations

from vigil.detect.traces.base import TraceSpec, posts_events

# A hashtag used by more accounts than this is a public conversation, not a coordination key.
RARE_HASHTAG_ACCOUNTS = 200

CO_HASHTAG = TraceSpec(
    name="co_hashtag",
    description=f"same rare hashtag (at most {RARE_HASHTAG_ACCOUNTS} accounts) within the window",
    events_sql=posts_events("x", unnest="hashtags"),
    max_item_accounts=RARE_HASHTAG_ACCOUNTS,
    signal_kinds=("hashtag",),
)

CO_HASHTAG_SEQUENCE = TraceSpec(
    name="co_hashtag_seq",
    description="same ordered sequence of two or more hashtags within the window",
    # Hashtags are stored lower-case without '#', so ' ' cannot occur inside one. array_length, not
    # len: the same SQL runs on Spark, where sqlglot would read len as a string length.
    events_sql=posts_events("array_to_string(hashtags, ' ')", where="array_length(hashtags) >= 2"),
)
