"""twitter-io's vectorised retweet keys (RE2 prefix, Arrow normal forms, DuckDB SHA-1) equal the
Python rules (``retweet_keys``) on every keyless retweet of the IRA 2017 archive and on edge cases:
Unicode whitespace around the prefix, handles with underscores, digits, non-ASCII letters or over
50 characters, texts without an ``RT @`` prefix, texts that are only a prefix, empty user ids."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pytest

from vigil.ingest.adapters.base import AdapterOptions
from vigil.ingest.adapters.twitter_io import _PY_SPACES, TwitterIOAdapter, retweet_keys

EDGE_TEXTS = [
    "RT @Someone: the polls open at 8am #vote",
    "RT @some_one_2: digits and underscores",
    "RT @___: only underscores",
    "RT @12345: only digits",
    "RT @José: a handle Python's \\w takes whole, RE2's ASCII class would cut",
    "RT @abcİ: dotted capital I, lower-cased differently by Arrow and Python",
    "RT @ΣΑΣ: final sigma",
    "RT @日本語: CJK handle",
    "RT @: no handle",
    "RT @x",
    "RT @x:",
    "RT @x:   ",
    "RT @x: https://t.co/abc",
    "RT @x: @y @z",
    "\u00a0\u2003 RT @lead_space:\u3000ideographic space after the colon",
    "\u1680RT @ogham:\u200a\u2028text",
    "\u200bRT @zero_width: a format character is no space",
    "\x1c\x1d RT @seps:\x85next line",
    "RT @" + "a" * 50 + ": fifty characters",
    "RT @" + "b" * 51 + ": fifty-one characters",
    "RT @" + "c" * 49 + "é: forty-nine then a letter beyond ASCII",
    "RT @" + "d" * 50 + "é: fifty then a letter beyond ASCII",
    "RT @" + "e" * 50 + "\u3000: fifty then a Unicode space",
    "rt @lower: not the prefix (case)",
    "RT@nospace: not the prefix",
    "RT  @two_spaces: not the prefix",
    "no prefix at all",
    "Something RT @x: not at the start",
    "",
    "   ",
    "\u3000",
    "RT @x: Ünïcödé bödy, l'élection, الانتخابات",
    "RT @x: ＦＵＬＬ ｗｉｄｔｈ",
]


def _vectorised(userids: list[str | None], texts: list[str]) -> list[str]:
    adapter = TwitterIOAdapter(AdapterOptions())
    keys = adapter._keys(pa.array(userids, pa.string()), pa.array(texts, pa.string()))
    return list(keys.to_pylist())


def _python(userids: list[str | None], texts: list[str]) -> list[str]:
    return retweet_keys([(0, userid or None, text) for userid, text in zip(userids, texts, strict=True)])


def test_space_class_is_pythons() -> None:
    """``_PY_SPACES`` is exactly what Python's ``\\s`` and ``str.strip`` treat as whitespace."""
    space = re.compile(r"\s")
    expected = {chr(c) for c in range(0x110000) if space.match(chr(c))}
    assert set(_PY_SPACES) == expected
    assert expected == {chr(c) for c in range(0x110000) if chr(c).isspace()}


@pytest.mark.parametrize("userid", [None, "", "777"])
def test_edge_cases_same_as_python(userid: str | None) -> None:
    userids = [userid] * len(EDGE_TEXTS)
    assert _vectorised(userids, EDGE_TEXTS) == _python(userids, EDGE_TEXTS)


def test_generated_prefixes_same_as_python() -> None:
    """Random prefixes built from characters on both sides of the ASCII / Python-\\w / space lines."""
    rng = random.Random(22)
    pool = [*"aZ09_:@ RT", *_PY_SPACES, "é", "İ", "ß", "Σ", "日", "\u0301", "\u200b", "١", "😀", "-", "."]
    texts = []
    for _ in range(3_000):
        head = "".join(rng.choice(pool) for _ in range(rng.randint(0, 4)))
        handle = "".join(rng.choice(pool) for _ in range(rng.choice([0, 1, 5, 49, 50, 51])))
        tail = "".join(rng.choice(pool) for _ in range(rng.randint(0, 6)))
        texts.append(f"{head}RT @{handle}{tail}Vote now for the change we need")
    userids = [rng.choice([None, "", "42"]) for _ in texts]
    assert _vectorised(userids, texts) == _python(userids, texts)


def test_ira_archive_same_as_python(shared_data: Path) -> None:
    """Every retweet of the IRA 2017 archive without retweet_tweetid (about 250k)."""
    columns = ["retweet_userid", "retweet_tweetid", "is_retweet", "tweet_text"]
    table = pcsv.read_csv(
        shared_data / "ira-2017" / "tweets.csv.gz",
        convert_options=pcsv.ConvertOptions(
            include_columns=columns, column_types=dict.fromkeys(columns, pa.string())
        ),
    )
    keyless = pc.and_(
        pc.equal(pc.ascii_lower(table["is_retweet"]), "true"),
        pc.equal(pc.utf8_trim_whitespace(pc.fill_null(table["retweet_tweetid"], "")), ""),
    )
    keyless = pc.and_(keyless, pc.greater(pc.utf8_length(pc.fill_null(table["tweet_text"], "")), 0))
    chosen = table.filter(keyless)
    assert chosen.num_rows > 200_000
    texts = chosen["tweet_text"].to_pylist()
    userids = [u.strip() if u else None for u in chosen["retweet_userid"].to_pylist()]
    assert _vectorised(userids, texts) == _python(userids, texts)
