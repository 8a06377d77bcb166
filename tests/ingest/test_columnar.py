"""The columnar path of ingest (vigil.ingest.columnar) writes what the row-by-row path writes.

Each source is ingested twice, ``columnar=True`` (the default) and ``columnar=False`` (the row
path, the reference), and the two posts and accounts files must be equal table for table, with
equal summaries. The sources mix what the columnar path reads itself with what it hands to Python
(quoted lists, youtu.be, odd hosts, blank cells, several time formats), and bad input must give
the row path's exact error.
"""

from __future__ import annotations

import csv
import gzip
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from vigil.core.errors import DataError
from vigil.ingest import columnar as columnar_path
from vigil.ingest.columnar import BatchMemo, Memo, TextRules, blank_to_null, dedupe_lists, ids
from vigil.ingest.entities import extract_hashtags, extract_mentions
from vigil.ingest.pipeline import ingest
from vigil.ingest.values import BadValue, TimeFormat, as_text, parse_id, parse_list, parse_time

TOOLKIT_MAPPING = {
    "post_id": "message_id", "account_id": "user_id", "account_handle": "username",
    "reshare_of": "repost_id", "reply_to": "reply_id", "text": "message", "created_at": "timestamp",
    "urls": "urls",
}  # fmt: skip
TEXTS = [
    "Go vote on Sunday {tag} {url}",
    "Votez dimanche, à 20 heures {tag}",
    "صوتوا يوم الأحد {tag} {url}",
    "RT @Someone: the polls open at 8am {tag}",
    "@user1 @USER1 see www.example.org/x. and (https://en.wikipedia.org/wiki/Foo_(bar))",
    "   ",
    "#1 is not a hashtag but #Élection2024 and ＃fullwidth are; a@b.c is no mention",
]
TAGS = ["#vote", "#Election2024", "#présidentielle", "#الانتخابات", "", "#vote #VOTE"]
URLS = [
    "https://www.Example-News.com/politics/{n}?utm_source=twitter",
    "http://bit.ly/{n:x}",
    "https://m.facebook.com/story.php?story_fbid={n}&fbclid=IwAR0",
    "https://youtu.be/v{n:x}?si=abc",
    "https://example.com/a/./b/",
    "HTTPS://EXAMPLE.COM/Path/{n}/",
    "ftp://files.example.com/x",
    "https://a..b/c",
    "https://xn--bcher-kva.example/{n}",
    "https://bücher.example/{n}",
    "https://example.com:8080/{n}",
    "",
    " ",
    "https://t.co/{n:x} https://t.co/{n:x}",
]
GENERIC: dict[str, Any] = {
    "layout": "generic", "mapping": TOOLKIT_MAPPING, "platform": "twitter", "detect_language": False,
}  # fmt: skip
SUMMARY_PATHS = ("seconds", "posts_path", "accounts_path")  # where and how long: differ by design
TIMES = ["{s}", "2024-03-0{d}T12:34:56Z", "2024-03-0{d} 12:34", "Wed Oct 10 20:19:24 +0000 2018", "{s}.5"]


def _toolkit_csv(path: Path, rows: int, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*TOOLKIT_MAPPING.values(), "note"])
        for i in range(rows):
            user = rng.randrange(40)
            n = rng.randrange(60)
            text = rng.choice(TEXTS).format(tag=rng.choice(TAGS), url=rng.choice(URLS).format(n=n))
            when = rng.choice(TIMES).format(s=1_700_000_000 + i, d=1 + i % 9)
            repost = rng.choice(["", f" {rng.randrange(max(1, i))} ", str(i // 2)])
            url_cell = rng.choice(URLS).format(n=n) if rng.random() < 0.7 else ""
            note = rng.choice(["", " ", "kept", "ملاحظة"])
            writer.writerow([f" {i} " if i % 17 == 0 else i, f"u{user}", f"user{user}", repost, "", text,
                             when, url_cell, note])  # fmt: skip


def _twitter_csv(path: Path, rows: int, seed: int) -> None:
    rng = random.Random(seed)
    columns = [
        "tweetid", "userid", "user_screen_name", "user_display_name", "follower_count", "following_count",
        "account_creation_date", "account_language", "tweet_language", "tweet_text", "tweet_time",
        "is_retweet", "retweet_userid", "retweet_tweetid", "in_reply_to_tweetid", "hashtags", "urls",
        "user_mentions", "tweet_client_name",
    ]  # fmt: skip
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for i in range(rows):
            user = rng.randrange(25)
            n = rng.randrange(40)
            retweet = rng.random() < 0.5
            text = rng.choice(TEXTS).format(tag=rng.choice(TAGS), url=rng.choice(URLS).format(n=n))
            if retweet and rng.random() < 0.6:
                text = f"RT @Acct{rng.randrange(5)}: {text}"
            hashtags = ["[]", "[vote]", "[MAGA, maga, Vote]", "['a', 'b']", "", "[2016election]", "[null]"]
            languages = ["en", "EN-us", "xx", "qme", "", "ru", "und", "zz9", "pt_BR"]
            earlier = str(rng.randrange(i + 1))
            writer.writerow([
                i, f"id{user}", f"Handle{user}", rng.choice(["", f"Name {user}"]), rng.randrange(5000),
                rng.choice(["12", "12.0", ""]), f"2016-0{1 + user % 9}-01",
                rng.choice(languages[:5]), rng.choice(languages[3:]), text,
                f"2017-01-0{1 + i % 9} 0{i % 10}:{i % 60:02d}", rng.choice(["True", "False", "true", ""]),
                rng.choice(["", "", f"id{rng.randrange(25)}"]),
                rng.choice(["", "", "", earlier]), rng.choice(["", "", earlier]),
                rng.choice([*hashtags, "[#x]"]),
                rng.choice(["[]", f"[https://t.co/{n:x}]", "[https://t.co/a, https://t.co/b]", "",
                            "[http://bit.ly/X, not-a-url]", "['https://example.com/q']"]),
                rng.choice(["[]", "[123, 456]"]), rng.choice(["Twitter Web Client", ""]),
            ])  # fmt: skip


def _both(tmp_path: Path, sources: list[Path], **options: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    results = {}
    for columnar in (True, False):
        out = tmp_path / f"out-{columnar}"
        summary = ingest(sources, out_dir=out, columnar=columnar, batch_size=700, **options).as_dict()
        results[columnar] = {
            "posts": pq.read_table(out / "posts.parquet"),
            "accounts": pq.read_table(out / "accounts.parquet"),
            "summary": {
                k: v for k, v in summary.items() if k not in ("seconds", "posts_path", "accounts_path")
            },
        }
    return results[True], results[False]


def _assert_same(fast: dict[str, Any], rows: dict[str, Any]) -> None:
    assert fast["posts"].num_rows == rows["posts"].num_rows > 0
    for name in rows["posts"].column_names:
        assert fast["posts"].column(name).to_pylist() == rows["posts"].column(name).to_pylist(), name
    assert fast["posts"].equals(rows["posts"])
    assert fast["accounts"].equals(rows["accounts"])
    assert fast["summary"] == rows["summary"]


@pytest.mark.parametrize("compress", [False, True])
def test_generic_toolkit_layout_same_as_row_path(tmp_path: Path, compress: bool) -> None:
    source = tmp_path / "toolkit.csv"
    _toolkit_csv(source, 3_000, seed=3)
    if compress:
        gz = tmp_path / "toolkit.csv.gz"
        gz.write_bytes(gzip.compress(source.read_bytes()))
        source = gz
    fast, rows = _both(
        tmp_path,
        [source],
        layout="generic",
        mapping=TOOLKIT_MAPPING,
        platform="twitter",
        detect_language=False,
    )
    _assert_same(fast, rows)
    urls = [u for row in fast["posts"].column("urls").to_pylist() for u in row]
    assert {u["canonical"] for u in urls} >= {"https://youtube.com/watch?v=v0", "https://example.com/a/b"}


def test_twitter_io_same_as_row_path(tmp_path: Path) -> None:
    source = tmp_path / "tweets.csv"
    _twitter_csv(source, 3_000, seed=5)
    fast, rows = _both(tmp_path, [source], layout="twitter-io", detect_language=False)
    _assert_same(fast, rows)
    assert fast["summary"]["unmapped"]  # unknown languages counted the same way on both paths
    assert any(key.startswith("rt:") for key in fast["posts"].column("reshare_of").drop_null().to_pylist())


def test_fixtures_same_as_row_path(tmp_path: Path, fixtures: Path) -> None:
    for name, options in (
        ("twitter_io_tweets.csv", {"layout": "twitter-io"}),
        ("twitter_io_archive_shape.csv", {"layout": "twitter-io"}),
    ):
        fast, rows = _both(tmp_path / name, [fixtures / name], detect_language=False, **options)
        _assert_same(fast, rows)


def test_real_archive_same_as_row_path(tmp_path: Path, shared_data: Path) -> None:
    """The first 4,000 tweets of the IRA 2017 archive (twitter-io layout)."""
    source = tmp_path / "ira.csv"
    with gzip.open(shared_data / "ira-2017" / "tweets.csv.gz", "rt", encoding="utf-8") as handle:
        source.write_text("".join(line for _, line in zip(range(4_001), handle, strict=False)), "utf-8")
    fast, rows = _both(tmp_path, [source], layout="twitter-io", detect_language=False)
    _assert_same(fast, rows)


@pytest.mark.parametrize(
    ("cell", "column"),
    [("not a time", "timestamp"), ("", "message_id"), ("", "timestamp")],
)
def test_bad_cell_gives_the_row_paths_error(tmp_path: Path, cell: str, column: str) -> None:
    source = tmp_path / "toolkit.csv"
    _toolkit_csv(source, 1_500, seed=9)
    lines = source.read_text("utf-8").splitlines(keepends=True)
    header = next(csv.reader([lines[0]]))
    row = next(csv.reader([lines[1_234]]))
    row[header.index(column)] = cell
    buffer = tmp_path / "row.csv"
    with buffer.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerow(row)
    lines[1_234] = buffer.read_text("utf-8")
    source.write_text("".join(lines), "utf-8")
    errors = []
    for columnar in (True, False):
        with pytest.raises(DataError) as caught:
            ingest([source], layout="generic", mapping=TOOLKIT_MAPPING, platform="twitter",
                   out_dir=tmp_path / f"out-{columnar}", columnar=columnar, batch_size=500)  # fmt: skip
        errors.append(caught.value)
    assert str(errors[0]) == str(errors[1])
    assert errors[0].details.get("row") == 1_234


def test_blank_line_falls_back_to_the_csv_module_with_true_row_numbers(tmp_path: Path) -> None:
    source = tmp_path / "toolkit.csv"
    _toolkit_csv(source, 1_200, seed=11)
    lines = source.read_text("utf-8").splitlines(keepends=True)
    lines.insert(900, "\n")  # a blank line: Arrow's reader refuses it, the csv module skips it
    source.write_text("".join(lines), "utf-8")
    fast, rows = _both(
        tmp_path,
        [source],
        layout="generic",
        mapping=TOOLKIT_MAPPING,
        platform="twitter",
        detect_language=False,
    )
    _assert_same(fast, rows)
    assert fast["posts"].num_rows == 1_200


@pytest.mark.parametrize(
    "value",
    ["2017-02-30 00:00", "2017-01-01 24:00", "2017-01-01 23:59:60", "2017-01-01 23:59", "2017-01-01T23:59:07",
     "1700000000", "1700000000.5", "1700000000.0", "1700000000.000", "1700000000.", "1700000000.05",
     "Wed Oct 10 20:19:24 +0000 2018", "2021-09-26T18:00:00Z"],
)  # fmt: skip
def test_times_read_as_parse_time_reads_them(value: str) -> None:
    """Arrow's strptime rolls impossible dates over; the columnar path must not."""
    fmt = TimeFormat("auto")
    try:
        expected: object = parse_time(value, fmt)
    except BadValue as exc:
        expected = exc.message
    try:
        got: object = TextRules().times(pa.array([value, value]), fmt).to_pylist()[0]
    except BadValue as exc:
        got = exc.message
    assert got == expected


def test_ascii_hashtags_and_mentions_match_the_python_rules() -> None:
    """Random ASCII texts dense in sigils and separators: DuckDB's regexes (no look-behind) find what
    entities.HASHTAG_RE and MENTION_RE find."""
    rng = random.Random(1)
    alphabet = "ab1_#@&. ,!xZ"
    texts: list[str | None] = [
        "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 14))) for _ in range(5_000)
    ]
    texts += ["##x", "#a#b", "x#y", "&#39; #1 #1a", "@" + "q" * 70 + "@r", "a@b.c .@x", None, "#été @ü"]
    rules = TextRules()
    assert rules.hashtags(pa.array(texts)).to_pylist() == [extract_hashtags(t) for t in texts]
    assert rules.mentions(pa.array(texts)).to_pylist() == [extract_mentions(t) for t in texts]


def test_a_full_memo_starts_again_without_losing_values() -> None:
    calls: list[list[str]] = []

    def upper(values: list[str]) -> list[str]:
        calls.append(values)
        return [v.upper() for v in values]

    memo = BatchMemo(upper, limit=3)
    assert memo.many(["a", "b", None]) == ["A", "B", None]
    assert memo.many(["a", "c", "d"]) == ["A", "C", "D"]  # over the limit: forgets, computes all three
    assert sorted(calls[-1]) == ["a", "c", "d"]


@pytest.mark.parametrize("count", ["12.5", "many", " 7 ", "8.0"])
def test_twitter_io_counts_checked_as_the_row_path(tmp_path: Path, fixtures: Path, count: str) -> None:
    """Plain-digit counts skip the per-value check; any other count is parsed by the row path's
    rule: a bad one gives the row path's error, a good one the same tables."""
    source = tmp_path / "tweets.csv"
    with (fixtures / "twitter_io_tweets.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows[1]["follower_count"] = count
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    if count in ("12.5", "many"):
        errors = []
        for columnar in (True, False):
            with pytest.raises(DataError) as caught:
                ingest([source], layout="twitter-io", out_dir=tmp_path / f"out-{columnar}", columnar=columnar,
                       detect_language=False)  # fmt: skip
            errors.append(str(caught.value))
        assert errors[0] == errors[1]
        assert "follower_count" in errors[0]
    else:
        fast, slow = _both(tmp_path, [source], layout="twitter-io", detect_language=False)
        _assert_same(fast, slow)


def test_blank_cells_ids_and_list_repeats_match_the_python_rules() -> None:
    """The byte-level shortcuts (a first or last byte of printable ASCII) and the repeat removal of
    lists of two or more items give the Python rules' results, on sliced arrays too."""
    rng = random.Random(3)
    alphabet = [
        "a",
        "1",
        " ",
        "\t",
        "\n",
        "\u00a0",
        "\u2003",
        "é",
        "\x1c",
        "\x85",
        "中",
        "-",
        "\u3000",
        "~",
        "\x7f",
    ]
    cells = [
        None if rng.random() < 0.1 else "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 5)))
        for _ in range(20_000)
    ]
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    assert {s.encode()[0] for s in spaces if s.encode()[0] >= 0x21} <= set(
        columnar_path._SPACE_LEADS.tolist()
    )
    array = pa.array(cells, pa.string())
    for part, values in ((array, cells), (array.slice(7, 9_000), cells[7:9_007])):
        assert blank_to_null(part).to_pylist() == [None if v is None else as_text(v) for v in values]
        assert ids(part).to_pylist() == [None if v is None else parse_id(v) for v in values]
    items = [
        None
        if rng.random() < 0.05
        else [rng.choice(["a", "b", "c", "A", None]) for _ in range(rng.randrange(5))]
        for _ in range(20_000)
    ]
    lists = pa.array(items, pa.list_(pa.string()))
    expected = [None if row is None else list(dict.fromkeys(row)) for row in items]
    assert dedupe_lists(lists).to_pylist() == expected
    assert dedupe_lists(lists.slice(11, 5_000)).to_pylist() == expected[11:5_011]

    def first_per_key(row: list[str | None]) -> list[str | None]:
        seen: dict[str | None, str | None] = {}
        for item in row:
            seen.setdefault(item.lower() if item is not None else None, item)
        return list(seen.values())

    keyed = dedupe_lists(lists, pc.utf8_lower(pc.list_flatten(lists))).to_pylist()
    assert keyed == [None if row is None else first_per_key(row) for row in items]


def test_list_cells_split_by_arrow_match_parse_list() -> None:
    """Cells written "[x, y]" or as one bare item are split without Python: the same lists as
    parse_list on random cells of items, separators, brackets, quotes and Unicode spaces."""
    rng = random.Random(5)
    pieces = ["a", "Vote", "https://x.org/p", "www.y.org", "?q=1", ", ", ",", " ", "[", "]", "'", '"',
              "\u00a0", "\u2003", "\x0b", "\x1c", ";", "|", "true", "é", "_1"]  # fmt: skip
    cells: list[str] = []
    while len(cells) < 6_000:
        body = "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 5)))
        cell = f"[{body}]" if rng.random() < 0.5 else body
        try:
            parse_list(cell, urls=True)
            parse_list(cell)
        except BadValue:
            continue
        cells.append(cell)
    array = pa.array(cells, pa.string())
    urls = columnar_path.lists(
        array, Memo(lambda v: parse_list(v, urls=True)), columnar_path.STRING_LIST,
        columnar_path.LIST_ITEM, columnar_path.URL_ITEM,
    )  # fmt: skip
    assert urls.to_pylist() == [parse_list(cell, urls=True) for cell in cells]
    words = columnar_path.lists(
        array, Memo(lambda v: list(dict.fromkeys(x.lower() for x in parse_list(v)))),
        columnar_path.STRING_LIST, columnar_path.WORD_ITEM, lower=True,
    )  # fmt: skip
    assert words.to_pylist() == [list(dict.fromkeys(x.lower() for x in parse_list(cell))) for cell in cells]


def test_times_in_range_are_read_by_arrow_and_the_others_as_parse_time_reads_them() -> None:
    """A batch of ``YYYY-MM-DD HH:MM[:SS]`` times is read by Arrow only when every field is in
    range (Arrow rolls Feb 29 of 2100 over to March; Python refuses it): the columnar times equal
    parse_time's, or both refuse, on random batches of possible and impossible dates."""
    rng = random.Random(22)
    rules = TextRules()
    fmt = TimeFormat("auto")
    for _ in range(400):
        cells = []
        for _ in range(rng.choice([1, 3, 8])):
            year = rng.choice([1, 1900, 2000, 2016, 2017, 2100, 2400, 9999])
            month, day = rng.randint(0, 13), rng.randint(0, 32)
            hour, minute = rng.choice([0, 23, 24]), rng.choice([0, 59, 60])
            seconds = rng.choice(["", ":00", ":59", ":60"])
            sep = rng.choice(" T")
            cells.append(f"{year:04d}-{month:02d}-{day:02d}{sep}{hour:02d}:{minute:02d}{seconds}")
        try:
            expected: list[Any] | None = [parse_time(cell, fmt) for cell in cells]
        except BadValue:
            expected = None
        try:
            got: list[Any] | None = rules.times(pa.array(["pad", *cells]).slice(1), fmt).to_pylist()
        except BadValue:
            got = None
        assert got == expected, cells


@pytest.mark.parametrize("shape", ["mixed", "all cells", "no cells", "empty", "unique cells"])
def test_choose_by_cell_is_choose_row_for_row(shape: str) -> None:
    # Per row, what choose gives for the same two functions: distinct cells computed once, texts of
    # rows without a cell only, both put back in row order (the functions count what they were given).
    rng = random.Random(7)
    n = {"empty": 0}.get(shape, 500)
    pool = [f"c{i}" for i in range(20)]

    def cell(i: int) -> str | None:
        if shape == "no cells" or (shape in ("mixed", "unique cells") and rng.random() < 0.3):
            return None
        # Cells that hardly repeat are given to from_cells as they are.
        return f"u{i}" if shape == "unique cells" else rng.choice(pool)

    cells = [cell(i) for i in range(n)]
    texts = [None if rng.random() < 0.1 else f"t{rng.randrange(50)}" for _ in range(n)]
    given: list[int] = []

    def from_cells(values: pa.Array) -> pa.Array:
        given.append(len(values))
        return pc.utf8_upper(values)

    def from_texts(values: pa.Array) -> pa.Array:
        given.append(len(values))
        return pc.binary_join_element_wise("text:", pc.fill_null(values, "-"), "")

    cell_array, text_array = pa.array(cells, pa.string()), pa.array(texts, pa.string())
    chosen = columnar_path.choose_by_cell(cell_array, from_cells, text_array, from_texts, pa.string())
    expected = [
        cell.upper() if cell is not None else f"text:{text if text is not None else '-'}"
        for cell, text in zip(cells, texts, strict=True)
    ]
    assert chosen.to_pylist() == expected
    distinct = len({cell for cell in cells if cell is not None})
    # Once per distinct cell (or per row where cells hardly repeat) and once per row without a cell.
    assert sum(given) == (n if shape == "unique cells" else distinct) + cells.count(None)


def test_array_memo_gives_compute_of_each_value_across_batches_and_when_full() -> None:
    computed: list[str] = []

    def compute(values: pa.Array) -> pa.Array:
        computed.extend(values.to_pylist())
        return pc.binary_join_element_wise(values, "!", "")

    memo = columnar_path.ArrayMemo(compute, pa.string(), limit=8)
    rng = random.Random(3)
    for _ in range(40):
        distinct = sorted({f"v{rng.randrange(12)}" for _ in range(rng.randrange(1, 7))})
        before = len(computed)
        assert memo.apply(pa.array(distinct)).to_pylist() == [f"{value}!" for value in distinct]
        # Only values not known are computed (all of them when the memo was full and started again).
        assert len(computed) - before <= len(distinct)
        assert len(memo.known[0]) == len(memo.known[1]) <= 8
    assert len(computed) < 40 * 6  # known values were taken, not computed again
