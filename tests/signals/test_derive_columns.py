"""Column-wise derivation (``derive_columns``, ``derive_post_signals``) against the row-by-row
``derive_from_post`` of every post, on generated posts and on hand-made odd rows, and the compiled
MinHash loop against the numpy formulation it replaced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pytest

from vigil.core.errors import InputError
from vigil.schema.io import read_table
from vigil.schema.tables import POSTS, conform
from vigil.signals import derive_post_signals, get_signal_type
from vigil.signals.base import DerivesFromColumns, DerivesFromTexts
from vigil.signals.hashing import counter_permutations, splitmix64
from vigil.signals.text_minhash import signatures_of_normal_forms
from vigil.synth import GeneratorConfig, generate

from .conftest import sample_post

COLUMN_TYPES = ("account", "url", "domain", "hashtag", "image_pdq", "text_minhash")


@pytest.fixture(scope="module")
def generated_posts(tmp_path_factory: pytest.TempPathFactory) -> pa.Table:
    out = tmp_path_factory.mktemp("gen")
    generate(GeneratorConfig(posts=5000, seed=11), out)
    return read_table(Path(out) / "posts.parquet", POSTS)


def _odd_rows() -> pa.Table:
    """Rows each column-wise rule must send to the row path or treat exactly like it."""
    base = sample_post()
    url = base["urls"][0]
    variants: list[dict[str, Any]] = [
        {"platform": "Twitter", "account_id": " 42 ", "account_handle": "@@Foo"},
        {"platform": "", "account_id": "7", "account_handle": "x"},
        {"platform": "vk", "account_id": "", "account_handle": None},
        {"platform": "telegram", "account_id": "@chan", "account_handle": "@"},
        {"platform": "vk", "account_id": "a:b", "account_handle": "ÉLAN"},
        {"platform": "vk", "account_id": "8", "account_handle": "  spaced  "},
        {"platform": "vk", "account_id": "", "account_handle": "İstanbul"},
        {
            "urls": [
                url | {"canonical": ""},
                url | {"canonical": None, "url": "http://WWW.Example.com/a/?utm_x=1"},
            ]
        },
        {
            "urls": [
                url | {"canonical": "not a url", "domain": None},
                url | {"canonical": "https://bit.ly/AbC"},
            ]
        },
        {"urls": [url, url | {"url": "https://example.com/news#x", "canonical": ""}, url | {"domain": "  "}]},
        {"urls": [url | {"canonical": "https://ex.com/é?b=2&a=1", "domain": "EX.com"}]},
        {"urls": None, "hashtags": None, "image_pdq": None, "text": None},
        {"hashtags": ["Wahl2021", "#wahl2021", "1", "élection", "Ｗａｈｌ", "two words"]},
        {"image_pdq": [base["image_pdq"][0].lower(), base["image_pdq"][0], " " + base["image_pdq"][0]]},
        {"text": "short"},
        {"text": "Les votes ont été comptés deux fois à Berlin, https://x.y/z @someone"},
    ]
    rows = [base | {"post_id": str(i)} | change for i, change in enumerate(variants)]
    return conform(pa.Table.from_pylist(rows), POSTS)


def _before(posts: pa.Table, name: str) -> list[list[str]]:
    """What derivation gave before ``derive_columns``: ``derive_from_texts`` over the text column
    for the text types (``derive_from_post`` of each row equals it, tests/signals/test_types_tables.py,
    at ~10 ms a row), ``derive_from_post`` of each row for the others."""
    signal_type = get_signal_type(name)
    if isinstance(signal_type, DerivesFromTexts):
        return signal_type.derive_from_texts(posts["text"].to_pylist())
    return [signal_type.derive_from_post(row) for row in posts.to_pylist()]  # type: ignore[attr-defined]


def _row_by_row(posts: pa.Table, types: tuple[str, ...]) -> list[tuple[str, str, str]]:
    before = {name: _before(posts, name) for name in types}
    return [
        (post_id, name, value)
        for i, post_id in enumerate(posts["post_id"].to_pylist())
        for name in types
        for value in before[name][i]
    ]


def _triples(table: pa.Table) -> list[tuple[str, str, str]]:
    return list(zip(*(table[c].to_pylist() for c in ("post_id", "signal_type", "value")), strict=True))


@pytest.mark.parametrize("source", ["generated", "odd"])
def test_columns_equal_rows_in_order(
    source: str, generated_posts: pa.Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    posts = generated_posts if source == "generated" else _odd_rows()
    for name in COLUMN_TYPES:
        signal_type = get_signal_type(name)
        assert isinstance(signal_type, DerivesFromColumns)
        got = signal_type.derive_columns(posts).to_pylist()
        assert got == _before(posts, name), name
    # The whole table, every type at once, in several batches: same rows, same order.
    monkeypatch.setattr("vigil.signals.derive.BATCH_ROWS", 777)
    table = derive_post_signals(posts, list(COLUMN_TYPES))
    assert _triples(table) == _row_by_row(posts, COLUMN_TYPES)
    if source == "generated":
        assert table.num_rows > 5000
        assert set(table["signal_type"].to_pylist()) == set(COLUMN_TYPES)


def test_bad_pdq_raises_the_row_error() -> None:
    posts = conform(pa.Table.from_pylist([sample_post(), sample_post() | {"image_pdq": ["abc"]}]), POSTS)
    pdq = get_signal_type("image_pdq")
    with pytest.raises(InputError, match=r"column .image_pdq.*64 hex characters"):
        pdq.derive_columns(posts)  # type: ignore[attr-defined]


def test_missing_columns_derive_nothing() -> None:
    posts = pa.table({"platform": ["twitter"], "post_id": ["1"]})
    table = derive_post_signals(posts, list(COLUMN_TYPES))
    assert table.num_rows == 0


def _numpy_signatures(normal_forms: list[str]) -> npt.NDArray[np.uint32]:
    """The numpy formulation the compiled loop replaced (shingle hashes, then 128 minima)."""
    multipliers, offsets = counter_permutations(128)
    lengths = np.array([len(t) for t in normal_forms], dtype=np.intp)
    points = np.frombuffer("".join(normal_forms).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    width = np.minimum(lengths, 5)
    counts = lengths - width + 1
    starts = np.repeat(np.cumsum(lengths) - lengths, counts)
    starts += np.arange(len(starts)) - np.repeat(np.cumsum(counts) - counts, counts)
    widths = np.repeat(width, counts)
    acc = np.zeros(len(starts), dtype=np.uint64)
    padded = np.concatenate([points, np.zeros(5, dtype=np.uint64)])
    for offset in range(5):
        acc = np.where(widths > offset, acc * np.uint64(1_000_003) + padded[starts + offset], acc)
    hashes = splitmix64(acc)
    permuted = multipliers[:, None] * hashes[None, :] + offsets[:, None]
    mins = np.minimum.reduceat(permuted, np.cumsum(counts) - counts, axis=1)
    out: npt.NDArray[np.uint32] = (mins >> np.uint64(32)).astype(np.uint32).T
    return out


def test_compiled_minhash_equals_numpy(generated_posts: pa.Table) -> None:
    from vigil.signals.text_minhash import long_enough_normal_forms

    normal = [t for t in long_enough_normal_forms(generated_posts["text"].to_pylist()[:1500]) if t]
    normal += ["ab", "x", "😀 emoji", "abcde"]
    assert np.array_equal(signatures_of_normal_forms(normal), _numpy_signatures(normal))
