"""A second bench generator: retweet cascades with a long tail of popularity, independent of Vigil's.

    python bench/cascades.py --posts 1000000 --out /tmp/vigil-bench/cascades-1000000.parquet

Vigil's own generators (``vigil generate``, ``bench/detect_scale.py``) plant campaigns and draw
item popularity from a power of a uniform draw. This one has no planted coordination at all and
a different shape, closer to what a Twitter collection looks like:

* accounts: activity drawn from a Zipf law (exponent 1.05): a few accounts post thousands of times,
  most post once or twice;
* 30% originals, 62% retweets, 8% replies. Each original's appeal is drawn from a Pareto law
  (shape 1.8: most originals are retweeted a few times or never, a few thousands of times) and
  retweets pick their original in proportion to it, so cascades range from one retweet to
  thousands;
* a retweet comes a log-normal delay after its original (median 5 minutes, spread 2.0 in log
  space: half within minutes, a tail over days), so large cascades put hundreds of accounts in
  the same minute: every pair of them co-retweets by chance. Replies follow the same law;
* 40% of originals carry one or two URLs from a Zipf-popular pool (retweets repeat their
  original's URLs, which co-link leaves out, as the toolkit does); texts are a few words.

The co-action pairs therefore come from popularity alone, the case where a windowed self-join
produces the most matched pairs per post (at 1M posts 3.8 million ordered co-retweet post pairs
of distinct accounts within 60 s).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.schema.io import ParquetSink
from vigil.schema.tables import POSTS, URL_STRUCT

T0 = 1_700_000_000
SPAN = 7 * 24 * 3600
ORIGINAL_P, RETWEET_P = 0.30, 0.62  # the rest are replies
ACCOUNT_ZIPF, APPEAL_PARETO = 1.05, 1.8
_WORD_LIST = (
    "the a of to and in is it you that he was for on are with as his they be at one have this from "
    "or had by not word but what some we can out other were all there when up use your how said an "
    "each she which do their time if will way about many then them write would like so these her "
    "long make thing see him two has look more day could go come did number sound no most people my "
    "over know water than call first who may down side been now find any new work part take get "
    "place made live where after back little only round man year came show every good me give our "
    "under name very through just form sentence great think say help low line differ turn cause"
)
_WORDS = np.array(_WORD_LIST.split(" "))


def _ids(prefix: str, values: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(values), pa.string()), "")


def _zipf_indices(rng: np.random.Generator, size: int, pool: int, exponent: float) -> np.ndarray:
    """``size`` draws in [0, pool) with P(k) proportional to (k + 1) ** -exponent."""
    weights = np.arange(1, pool + 1, dtype=np.float64) ** -exponent
    cdf = np.cumsum(weights)
    return np.minimum(np.searchsorted(cdf, rng.random(size) * cdf[-1]), pool - 1)


def _texts(rng: np.random.Generator, size: int) -> pa.Array:
    """Short texts of 4-15 frequent words."""
    lengths = rng.integers(4, 16, size)
    words = pa.array(_WORDS.tolist()).take(pa.array(rng.integers(0, len(_WORDS), int(lengths.sum()))))
    offsets = np.zeros(size + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), words), " ")


def cascade_posts(n: int, seed: int = 11) -> pa.Table:
    """``n`` posts (see the module docstring), in post-id order (not time order)."""
    rng = np.random.default_rng(seed)
    n_orig = int(n * ORIGINAL_P)
    n_rt = int(n * RETWEET_P)
    n_reply = n - n_orig - n_rt
    n_accounts = max(100, n // 8)
    account = _zipf_indices(rng, n, n_accounts, ACCOUNT_ZIPF)
    # Account numbers are shuffled so that the busiest accounts are not the smallest ids.
    account = rng.permutation(n_accounts)[account]

    orig_ts = T0 + rng.integers(0, SPAN, n_orig).astype(np.float64)
    appeal = rng.pareto(APPEAL_PARETO, n_orig)
    cdf = np.cumsum(appeal)

    def targets(count: int) -> tuple[np.ndarray, np.ndarray]:
        target = np.minimum(np.searchsorted(cdf, rng.random(count) * cdf[-1]), n_orig - 1)
        delay = np.exp(rng.normal(np.log(300.0), 2.0, count))
        return target, np.floor(orig_ts[target] + delay)

    rt_target, rt_ts = targets(n_rt)
    reply_target, reply_ts = targets(n_reply)
    ts = np.concatenate([orig_ts, rt_ts, reply_ts])
    kind = np.repeat(np.array([0, 1, 2], dtype=np.int8), [n_orig, n_rt, n_reply])

    # URLs of originals: 30% one, 10% two, from a Zipf pool; retweets repeat their original's.
    n_urls_orig = (rng.random(n_orig) < 0.4).astype(np.int32) + (rng.random(n_orig) < 0.1)
    url_idx = _zipf_indices(rng, int(n_urls_orig.sum()), max(100, n // 5), 1.1)
    domain = _ids("site", url_idx % max(10, n // 200))
    domain = pc.binary_join_element_wise(domain, ".example", "")
    url = pc.binary_join_element_wise(
        "https://", domain, "/story/", pc.cast(pa.array(url_idx), pa.string()), ""
    )
    structs = pa.StructArray.from_arrays([url, url, domain, pa.array(np.zeros(len(url_idx), bool))],
                                         fields=list(URL_STRUCT))  # fmt: skip
    orig_offsets = np.zeros(n_orig + 1, dtype=np.int64)
    np.cumsum(n_urls_orig, out=orig_offsets[1:])
    # Each post's URL list: originals their own, retweets their target's, replies none.
    source = np.concatenate([np.arange(n_orig), rt_target, np.full(n_reply, -1)])
    counts = np.where(source >= 0, n_urls_orig[np.maximum(source, 0)], 0).astype(np.int32)
    starts = orig_offsets[np.maximum(source, 0)]
    take = np.repeat(starts - np.r_[0, np.cumsum(counts)[:-1]], counts) + np.arange(int(counts.sum()))
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    urls = pa.ListArray.from_arrays(pa.array(offsets), structs.take(pa.array(take)))

    post_ids = _ids("c", np.arange(n))
    orig_ids = post_ids.slice(0, n_orig)
    reshare_of = pa.concat_arrays(
        [pa.nulls(n_orig, pa.string()), orig_ids.take(pa.array(rt_target)), pa.nulls(n_reply, pa.string())]
    )
    reply_to = pa.concat_arrays([pa.nulls(n_orig + n_rt, pa.string()), orig_ids.take(pa.array(reply_target))])
    texts = _texts(rng, n)
    # A retweet's text is its original's.
    texts = pa.concat_arrays(
        [texts.slice(0, n_orig), texts.take(pa.array(rt_target)), texts.slice(n_orig + n_rt)]
    )
    del kind
    return pa.table(
        {
            "platform": pa.array(["x"] * n),
            "post_id": post_ids,
            "account_id": _ids("u", account),
            "created_at": pa.array((ts * 1_000_000).astype(np.int64), pa.int64()).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "text": texts,
            "urls": urls,
            "reshare_of": reshare_of,
            "reply_to": reply_to,
        }
    )


def generate_cascades(path: Path, n: int, *, seed: int = 11) -> Path:
    """Write :func:`cascade_posts` to ``path`` once; reuse the file after."""
    if path.is_file():
        return path
    table = cascade_posts(n, seed)
    with ParquetSink(path, POSTS) as sink:
        for batch in table.to_batches(max_chunksize=500_000):
            sink.write(batch)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    started = time.perf_counter()
    path = generate_cascades(Path(args.out), args.posts, seed=args.seed)
    print(f"{args.posts:,} cascade posts in {path} ({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
