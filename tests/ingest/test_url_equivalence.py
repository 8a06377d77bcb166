"""The fast paths of URL canonicalization give what the previous rules gave, URL for URL.

``vigil.ingest.urls.canonicalize`` (a regex instead of urlsplit for plain URLs, cached hosts) and
the columnar path's ``UrlRules`` (Arrow string functions for simple URLs) are compared with
``url_reference`` (the rules as they were, frozen) on: URLs of the IRA 2017 archive (real links as
posted, t.co and expanded ones, junk glued to them), hand-written odd cases, every one of them
mutated at random (case, ports, user, fragments, tracking parameters, escapes, dot segments, IDNs,
whitespace, prefixes), and random strings of URL pieces.
"""

from __future__ import annotations

import functools
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tests.ingest import url_reference
from vigil.ingest.columnar import UrlRules
from vigil.ingest.entities import extract_urls
from vigil.ingest.urls import canonicalize
from vigil.ingest.values import parse_list

ODD = [
    "https://example.com", "https://example.com/", "https://Example.COM:443/a/", "http://example.com:80",
    "https://example.com:8080/x", "https://example.com:99999/x", "https://example.com:/x",
    "https://user:pw@example.com/x", "https://@example.com/x", "HTTPS://WWW.EXAMPLE.COM/A?B=1#C",
    "https://www.m.example.co.uk/x", "https://www.co.uk/x", "https://m.co/x", "https://www2.example.org",
    "https://example.com./x", "https://example..com/x", "https://-bad-.com/x", "https://ex_ample.com/x",
    "https://bücher.example/ü?q=ä", "https://xn--bcher-kva.example/x", "https://例え.jp/パス",
    "https://127.0.0.1/x", "https://[::1]:8443/x", "https://[fe80::1%25en0]/x", "https://1.2.3/x",
    "https://example.com/a/./b/../c/.", "https://example.com/..", "https://example.com/a/%2e%2E/b",
    "https://example.com/%7Euser/%41%62%zz%", "https://example.com/a%2fb?x=%2F&y=%e2%82%ac",
    "https://example.com/p?utm_source=x&UTM_medium=y&fbclid=1&a=2&a=1&b&=c&&", "https://example.com/?",
    "https://example.com/?si=1", "https://example.com/p?q=a?b&r=/c", "https://example.com/p?q=a b",
    "https://example.com/#", "https://example.com/x#a?b=c", "https://youtu.be/abc?t=10&si=x",
    "https://youtu.be/", "https://youtu.be/abc/def", "https://www.youtube.com/watch?v=abc&feature=share",
    "https://bit.ly/AbC", "https://BIT.LY/AbC", "https://on.ft.com/xyz", "https://t.co/abc123",
    "http://t.co/abc”", "https://t.co/x\\", "example.com/x", "//example.com/x", "www.example.com",
    "example.com:8080/x", "mailto:a@b.c", "javascript:alert(1)", "ftp://example.com/x", "not a url",
    "", " ", "https://", "https:///x", "https://example.com/\tx", "https://exa\nmple.com/x",
    " https://example.com/x ", "https://example.com/x\x00", "https://example.com/\ud800",
    "https://example.com/a b", "https://example.com/é", "https://example.com/ｘ", "https://ｅxample.com",
    "https://localhost/x", "https://com/x", "https://alice.github.io/p", "https://foo.blogspot.com/",
]  # fmt: skip
PIECES = [
    "https://", "http://", "HTTP://", "//", "www.", "m.", "example", ".com", ".co.uk", ":80", ":8080",
    "/", "/a", "/./", "/../", "?", "&", "=", "utm_source", "fbclid", "x", "#", "%", "%2F", "%e9", "é",
    "@", "user:pw@", "[::1]", "bit.ly", "youtu.be", " ", ".", "-", "_", "~", "'", "(", ")", "\t",
]  # fmt: skip


def _mutate(url: str, rng: random.Random) -> str:
    for _ in range(rng.randrange(1, 4)):
        roll = rng.randrange(14)
        if roll == 0:
            url = url.upper() if rng.random() < 0.3 else url.replace("https", "HTTP", 1)
        elif roll == 1:
            url += rng.choice(["#frag", "#", "#a?b", "#x y"])
        elif roll == 2:
            url += ("&" if "?" in url else "?") + rng.choice(
                ["utm_source=tw", "fbclid=IwAR0", "b=2&a=1", "a", "q=%7e%2f", "si=1&v=x", "x=é"]
            )
        elif roll == 3:
            url = url.replace("://", "://" + rng.choice(["user@", "u:p@", "www.", "m.", "WWW2."]), 1)
        elif roll == 4:
            url = url.replace(".com", rng.choice([".com:80", ".com:443", ".com:8080", ".com.", ".COM"]), 1)
        elif roll == 5:
            url += rng.choice(["/", "//", "/./x/..", "/%41", "/%zz", "/ü", "/a%2Fb", "/(x)"])
        elif roll == 6:
            url = rng.choice([" ", "\t", ""]) + url + rng.choice([" ", "\n", ""])
        elif roll == 7:
            url = url.split("://", 1)[-1]
        elif roll == 8:
            swap = ("http://", "https://") if rng.random() < 0.5 else ("https", "http")
            url = url.replace(*swap, 1)
        elif roll == 9:
            url = url.replace("t.co", rng.choice(["bit.ly", "youtu.be", "bücher.de", "127.0.0.1"]), 1)
        elif roll == 10 and len(url) > 3:
            cut = rng.randrange(len(url))
            url = url[:cut] + rng.choice(["%", "%20", "?", "#", "&", "\n", "é", "."]) + url[cut:]
        elif roll == 11:
            url = url.replace("/", "/./", 1) if "//" not in url else url
        elif roll == 12:
            url = url.replace("https://", "https://example.com/", 1)
        else:
            url = url.lower()
    return url


def _ira_urls(shared_data: Path, rows: int) -> list[str]:
    """Links of the archive's first ``rows`` tweets (or a few more): the urls column's items and
    those in the text."""
    import pyarrow.csv as pacsv

    path = shared_data / "ira-2017" / "tweets.csv.gz"
    if not path.exists():
        pytest.skip(f"{path} not found")
    read = pacsv.ReadOptions(block_size=8 << 20)
    convert = pacsv.ConvertOptions(column_types={"urls": pa.string(), "tweet_text": pa.string()})
    parse = pacsv.ParseOptions(newlines_in_values=True)
    reader = pacsv.open_csv(path, read_options=read, convert_options=convert, parse_options=parse)
    found: set[str] = set()
    for batch in reader:
        for cell in pc.unique(batch.column("urls")).to_pylist():
            if cell:
                found.update(parse_list(cell, urls=True))
        for text in pc.unique(batch.column("tweet_text")).to_pylist():
            found.update(extract_urls(text))
        rows -= batch.num_rows
        if rows <= 0:
            break
    return sorted(found)


@functools.cache
def _sample(shared_data: Path) -> list[str]:
    rng = random.Random(22)
    real = _ira_urls(shared_data, 30_000)
    assert len(real) > 5_000
    sample = rng.sample(real, 5_000) + ODD
    sample += [_mutate(rng.choice(sample), rng) for _ in range(15_000)]
    sample += ["".join(rng.choice(PIECES) for _ in range(rng.randrange(1, 9))) for _ in range(5_000)]
    return sample


def _expected(url: str) -> dict[str, object]:
    return url_reference.canonicalize.__wrapped__(url).as_dict()


def test_canonicalize_gives_what_the_previous_rules_gave(shared_data: Path) -> None:
    sample = _sample(shared_data)
    differ = [u for u in sample if canonicalize.__wrapped__(u).as_dict() != _expected(u)]
    assert differ == []


def test_columnar_url_structs_give_what_the_previous_rules_gave(shared_data: Path) -> None:
    sample = [u for u in _sample(shared_data) if "\ud800" not in u]  # Arrow holds UTF-8 only
    got = UrlRules().structs(pa.array(sample, pa.string())).to_pylist()
    differ = [(u, g) for u, g in zip(sample, got, strict=True) if g != _expected(u)]
    assert differ == []
