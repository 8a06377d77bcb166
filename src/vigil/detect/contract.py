"""The tables that connect the parts of detection (see docs/detection.md).

Every trace of coordination reduces a platform's posts to **events**: an account acting on an item
at a time (sharing URL u, resharing post p, posting text of near-duplicate cluster c, ...). One
generic engine turns events into **edges** between accounts that acted on the same item within the
time window, plus the **evidence** rows behind each edge. The graph/campaign step reads only edges
and evidence, so any engine (DuckDB here, Spark for scale-out) that produces these tables fits.

Accounts are platform-qualified everywhere: ``account = platform || ':' || account_id``.
"""

from __future__ import annotations

import pyarrow as pa

# One row per (account, item, post): the bipartite account-item relation in time.
EVENTS = pa.schema(
    [
        pa.field("trace", pa.string(), nullable=False),  # e.g. "co_link", "co_text_near"
        pa.field("account", pa.string(), nullable=False),  # "platform:account_id"
        pa.field("platform", pa.string(), nullable=False),
        pa.field("post_id", pa.string(), nullable=False),
        pa.field("item", pa.string(), nullable=False),  # the shared thing, as a string key
        pa.field("ts", pa.float64(), nullable=False),  # POSIX seconds (UTC)
    ]
)

# One row per unordered account pair per trace (account_a < account_b).
EDGES = pa.schema(
    [
        pa.field("trace", pa.string(), nullable=False),
        pa.field("account_a", pa.string(), nullable=False),
        pa.field("account_b", pa.string(), nullable=False),
        pa.field("weight", pa.float64(), nullable=False),  # after popular-item down-weighting
        pa.field("n_items", pa.int64(), nullable=False),  # distinct items both acted on in the window
        pa.field("n_coactions", pa.int64(), nullable=False),  # matched post pairs behind the edge
        pa.field("first_ts", pa.float64(), nullable=False),
        pa.field("last_ts", pa.float64(), nullable=False),
    ]
)

# The exact post pairs behind every edge, so an analyst can verify an edge by hand.
EVIDENCE = pa.schema(
    [
        pa.field("trace", pa.string(), nullable=False),
        pa.field("account_a", pa.string(), nullable=False),
        pa.field("account_b", pa.string(), nullable=False),
        pa.field("item", pa.string(), nullable=False),
        pa.field("post_a", pa.string(), nullable=False),
        pa.field("post_b", pa.string(), nullable=False),
        pa.field("ts_a", pa.float64(), nullable=False),
        pa.field("ts_b", pa.float64(), nullable=False),
    ]
)
