"""Post ids in each platform's own shape, derived from a unique per-data-set post number (key)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.synth.arrowkit import int_strings

_TWEET_BASE = 1_840_000_000_000_000_000  # 19 digits like a 2024 tweet id; grows with the key
_FB_BASE = 100_000_000_000_000


def post_ids(
    platforms: tuple[str, ...], platform: np.ndarray, account_id: pa.Array, key: np.ndarray
) -> pa.Array:
    """twitter: a snowflake-sized number; facebook: ``<page id>_<post number>``;
    telegram: ``<channel id>/<message number>``. Unique because keys are unique."""
    out = int_strings(_TWEET_BASE + key * 4_099)
    for p, name in enumerate(platforms):
        if name == "facebook":
            value = pc.binary_join_element_wise(account_id, int_strings(_FB_BASE + key * 13), "_")
        elif name == "telegram":
            value = pc.binary_join_element_wise(account_id, int_strings(key + 1), "/")
        else:
            continue
        out = pc.if_else(pa.array(platform == p), value, out)
    return out
