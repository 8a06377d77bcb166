"""Turn campaign drafts into columnar posts, sorted by time, ready to be merged into chunks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from vigil.schema.tables import TIMESTAMP, URL_STRUCT
from vigil.synth.banks import LANGS
from vigil.synth.campaigns.base import Draft
from vigil.synth.items import url_structs
from vigil.synth.organic import World


@dataclass
class CampaignRows:
    """Coordinated posts of every campaign, in time order (filler posts are made like organic ones)."""

    t_us: np.ndarray  # int64
    acct: np.ndarray  # int64 global account index
    campaign: np.ndarray  # int32
    target: np.ndarray  # int64 row (in this order) a reshare points to, or -1
    columns: pa.Table  # POSTS columns except post_id and reshare_of
    draft_rows: list[np.ndarray]  # per draft: its posts' rows in this order (by draft post index)

    def __len__(self) -> int:
        return len(self.t_us)


def _list_column(values: list[list[str]], typ: pa.DataType = pa.string()) -> pa.Array:
    return pa.array(values, type=pa.list_(typ))


def materialize(
    drafts: list[Draft], world: World, first_account: list[int], rng: np.random.Generator
) -> CampaignRows:
    """``first_account[i]``: global index of draft i's member 0."""
    acc = world.accounts
    t = np.array([x for d in drafts for x in d.t_us], dtype=np.int64)
    acct = np.array([first_account[i] + m for i, d in enumerate(drafts) for m in d.member], dtype=np.int64)
    camp = np.array([i for i, d in enumerate(drafts) for _ in d.t_us], dtype=np.int32)
    starts = np.cumsum([0] + [len(d.t_us) for d in drafts])
    target = np.array(
        [starts[i] + r if r >= 0 else -1 for i, d in enumerate(drafts) for r in d.reshare_of], dtype=np.int64
    )
    texts = [x for d in drafts for x in d.text]
    lang = np.array([x for d in drafts for x in d.lang], dtype=np.int64)
    urls = [x for d in drafts for x in d.urls]
    tags = [x for d in drafts for x in d.hashtags]
    pdq = [x for d in drafts for x in d.image_pdq]
    image_ids = [x for d in drafts for x in d.image_ids]

    # Time order (ties by planning order); a reshare always comes after its target (delay >= 1 s).
    order = np.lexsort((np.arange(len(t)), t))
    rank = np.empty(len(t), dtype=np.int64)
    rank[order] = np.arange(len(t))
    t, acct, camp, lang = t[order], acct[order], camp[order], lang[order]
    target = np.where(target[order] >= 0, rank[np.maximum(target[order], 0)], -1)
    texts = [texts[i] for i in order]
    urls = [urls[i] for i in order]
    tags = [tags[i] for i in order]
    pdq = [pdq[i] for i in order]
    image_ids = [image_ids[i] for i in order]

    need = np.array([texts[i] is None and target[i] < 0 for i in range(len(t))], dtype=bool)
    composed = iter(world.composer.compose(rng, lang[need]).to_pylist() if need.any() else [])
    handles = acc.handle.take(pa.array(acct)).to_pylist()
    platform = acc.platform[acct]
    mentions: list[list[str]] = [[] for _ in range(len(t))]
    final: list[str] = []
    for i in range(len(t)):
        if target[i] >= 0:
            j = int(target[i])
            # The reshare carries its target's text and entities, like a platform's share would.
            urls[i], tags[i], pdq[i], image_ids[i] = urls[j], tags[j], pdq[j], image_ids[j]
            lang[i] = lang[j]
            if acc.platforms[platform[i]] == "twitter":
                final.append(f"RT @{handles[j]}: {final[j]}")
                mentions[i] = [str(handles[j])]
            else:
                final.append(final[j])
            continue
        base = texts[i]
        if base is None:
            base = str(next(composed))
        pieces = [base] + [f"#{h}" for h in tags[i]] + list(urls[i])
        final.append(" ".join(pieces))

    offsets = np.zeros(len(t) + 1, dtype=np.int32)
    np.cumsum([len(u) for u in urls], out=offsets[1:])
    flat = [u for row in urls for u in row]
    url_values = url_structs(flat) if flat else pa.array([], type=URL_STRUCT)
    columns = pa.table(
        {
            "platform": pa.array(acc.platforms).take(pa.array(platform.astype(np.int64))),
            "account_id": acc.account_id.take(pa.array(acct)),
            "account_handle": pa.array(handles, type=pa.string()),
            "created_at": pa.array(t, type=TIMESTAMP),
            "text": pa.array(final, type=pa.string()),
            "lang": pa.array(LANGS).take(pa.array(lang)),
            "lang_detected": pa.array(np.zeros(len(t), dtype=bool)),
            "urls": pa.ListArray.from_arrays(pa.array(offsets), url_values),
            "hashtags": _list_column([[h.lower() for h in row] for row in tags]),
            "mentions": _list_column(mentions),
            "reply_to": pa.nulls(len(t), pa.string()),
            "image_pdq": _list_column(pdq),
            "image_ids": _list_column(image_ids),
        }
    )
    draft_rows = [rank[starts[i] : starts[i + 1]] for i in range(len(drafts))]
    return CampaignRows(t, acct, camp, target, columns, draft_rows)
