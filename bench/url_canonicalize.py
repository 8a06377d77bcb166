"""URL canonicalization, microseconds per distinct URL: the current rules beside the previous ones.

    python bench/url_canonicalize.py                 # IRA 2017 links + the generated bench links
    python bench/url_canonicalize.py --urls 50000

``vigil.ingest.urls.canonicalize`` is what ingest runs per distinct link and what the exchange runs
per submitted URL signal (issue #23 found it ~45% of bulk submission). Its cache is bypassed
(``__wrapped__``) so every call does the work. The previous rules are tests/ingest/url_reference.py
(frozen before issue #22's fast paths; tests/ingest/test_url_equivalence.py holds both equal), timed
on the same URLs in the same process, alternating rounds. Peer: ``urllib.parse.urlsplit`` alone,
the parsing step the previous rules started with (no canonicalization at all).
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
IRA = ROOT.parent / "shared" / "data" / "ira-2017" / "tweets.csv.gz"


def ira_links(limit: int) -> list[str]:
    """Distinct links of the IRA archive's urls column (as posted)."""
    import csv

    from vigil.ingest.values import parse_list

    found: dict[str, None] = {}
    with gzip.open(IRA, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            for url in parse_list(row["urls"], urls=True) if row["urls"] else []:
                found[url] = None
            if len(found) >= limit:
                break
    return list(found)


def generated_links(count: int) -> list[str]:
    """Links shaped like bench/ingest_memory.py's: tracking parameters, m./www., youtu.be, shorteners."""
    rng = random.Random(5)
    shapes = [
        "https://www.example-news.com/politics/{n}?utm_source=twitter",
        "http://bit.ly/{n:x}",
        "https://m.facebook.com/story.php?story_fbid={n}&fbclid=IwAR0",
        "https://youtu.be/v{n:x}?si=abc",
        "https://fr.wikipedia.org/wiki/%C3%89lection_{n}",
        "HTTPS://News.Example.ORG:443/a/./b/{n}/#top",
    ]
    return list(dict.fromkeys(rng.choice(shapes).format(n=rng.randrange(10**6)) for _ in range(count)))


def per_url(fn: Callable[[str], object], urls: list[str]) -> float:
    started = time.process_time()
    for url in urls:
        fn(url)
    return (time.process_time() - started) / len(urls) * 1e6


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--urls", type=int, default=30_000, help="Distinct links of each source.")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from tests.ingest import url_reference

    from vigil.ingest import urls

    sources = {"generated": generated_links(args.urls)}
    if IRA.exists():
        sources["IRA 2017"] = ira_links(args.urls)
    sides: dict[str, Callable[[str], object]] = {
        "vigil now": urls.canonicalize.__wrapped__,
        "vigil before": url_reference.canonicalize.__wrapped__,
        "urlsplit only": urlsplit,
    }
    for fn in sides.values():  # warm the host and domain caches of both, as in a long ingest
        for links in sources.values():
            for url in links[:2000]:
                fn(url)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'links':<10} {'distinct':>8} {'side':<14} {'us/URL (best of rounds)':>24}")
    for name, links in sources.items():
        best = {side: min(per_url(fn, links) for _ in range(args.rounds)) for side, fn in sides.items()}
        for side, value in best.items():
            print(f"{name:<10} {len(links):>8,} {side:<14} {value:>24.2f}")
        print(f"{name:<10} {'':>8} {'speed-up':<14} {best['vigil before'] / best['vigil now']:>23.1f}x")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
