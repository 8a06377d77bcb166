"""Tables of expected behaviour, one block per signal type."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from vigil.core.errors import InputError
from vigil.signals import get_signal_type
from vigil.signals.image_pdq import pdq_from_pixels
from vigil.signals.text_minhash import TextMinhashSignal

from .conftest import png_bytes, sample_account, sample_post, synthetic_image


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("twitter:12345", "twitter:12345"),
        ("Twitter:12345", "twitter:12345"),
        (" twitter : 12345 ", "twitter:12345"),
        ("twitter:@Handle", "twitter:@handle"),
        ("TWITTER:@HANDLE", "twitter:@handle"),
        ("facebook:AbC123", "facebook:AbC123"),  # ids are opaque: case is kept
    ],
)
def test_account_values(value: str, expected: str) -> None:
    assert get_signal_type("account").normalize(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("12345", "no ':'"),
        ("twitter:", "without spaces"),
        ("twitter:@", "without spaces"),
        ("twitter:two words", "without spaces"),
        ("Tw itter:1", "platform name"),
        (":1", "platform name"),
        ("twitter:@@x", "without spaces"),
    ],
)
def test_account_invalid(value: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        get_signal_type("account").normalize(value)


def test_account_derivation() -> None:
    account = get_signal_type("account")
    assert account.derive_from_post(sample_post()) == ["twitter:12345", "twitter:@vote_bot_77"]  # type: ignore[attr-defined]
    assert account.derive_from_account(sample_account()) == ["twitter:12345", "twitter:@vote_bot_77"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "variant",
    [
        "https://example.com/news/vote",
        "http://example.com/news/vote",
        "https://www.example.com/news/vote/",
        "HTTPS://WWW.EXAMPLE.COM/news/vote?utm_source=twitter&fbclid=abc",
        "example.com/news/vote#comments",
        "https://m.example.com:443/news/./vote",
    ],
)
def test_url_variants_normalize_equal(variant: str) -> None:
    url = get_signal_type("url")
    assert url.normalize(variant) == "https://example.com/news/vote"
    assert url.compare(url.normalize(variant), "https://example.com/news/vote").matched


@pytest.mark.parametrize("value", ["not a url", "ftp://example.com/x", "https://", "mailto:a@b.c"])
def test_url_invalid(value: str) -> None:
    with pytest.raises(InputError, match="url value must be an http"):
        get_signal_type("url").normalize(value)


def test_url_keeps_path_case_and_distinguishes_resources() -> None:
    url = get_signal_type("url")
    assert url.normalize("https://bit.ly/AbC") != url.normalize("https://bit.ly/abc")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("example.com", "example.com"),
        ("WWW.Example.COM.", "example.com"),
        ("news.bbc.co.uk", "bbc.co.uk"),
        ("alice.github.io", "alice.github.io"),
        ("bücher.de", "xn--bcher-kva.de"),
    ],
)
def test_domain_values(value: str, expected: str) -> None:
    assert get_signal_type("domain").normalize(value) == expected


@pytest.mark.parametrize("value", ["https://example.com", "example.com/x", "co.uk", "localhost", "a b.com"])
def test_domain_invalid(value: str) -> None:
    with pytest.raises(InputError, match="domain value must"):
        get_signal_type("domain").normalize(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("#Wahl2021", "wahl2021"),
        ("wahl2021", "wahl2021"),
        ("#الانتخابات", "الانتخابات"),
        ("#Élection", "élection"),
    ],
)
def test_hashtag_values(value: str, expected: str) -> None:
    assert get_signal_type("hashtag").normalize(value) == expected


@pytest.mark.parametrize("value", ["#1", "two words", "#a#b", "#", "vote!"])
def test_hashtag_invalid(value: str) -> None:
    with pytest.raises(InputError, match="one hashtag"):
        get_signal_type("hashtag").normalize(value)


@pytest.mark.parametrize(("value", "expected"), [("T0049", "T0049"), ("t0049.001", "T0049.001")])
def test_technique_valid(value: str, expected: str) -> None:
    assert get_signal_type("technique").normalize(value) == expected


@pytest.mark.parametrize("value", ["T49", "T0049.1", "TA01", "0049", "T00490"])
def test_technique_invalid(value: str) -> None:
    with pytest.raises(InputError, match="DISARM id"):
        get_signal_type("technique").normalize(value)


def test_md5_of_bytes() -> None:
    md5 = get_signal_type("image_md5")
    data = b"\xff\xd8\xff\xe0 a tiny jpeg header and some bytes"
    assert md5.hash_bytes(data) == hashlib.md5(data).hexdigest()  # type: ignore[attr-defined]
    assert md5.hash_bytes(b"") == "d41d8cd98f00b204e9800998ecf8427e"  # type: ignore[attr-defined]
    assert md5.derive_from_post(sample_post()) == ["9e107d9d372bb6826bd81d3542a419d6"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("value", "message"),
    [("a" * 63, "must be 64 hex characters, got 63"), ("g" * 64, "non-hex character 'g'")],
)
def test_pdq_invalid(value: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        get_signal_type("image_pdq").normalize(value)


def _flip(value: str, bits: int) -> str:
    return f"{int(value, 16) ^ ((1 << bits) - 1) << 7:064x}"


def test_pdq_threshold_edge() -> None:
    pdq = get_signal_type("image_pdq")
    base = pdq.examples[0]
    assert pdq.compare(base, _flip(base, 31)).matched
    assert pdq.compare(base, _flip(base, 31)).distance == 31
    assert not pdq.compare(base, _flip(base, 32)).matched
    assert pdq.compare(base, _flip(base, 32), threshold=32).matched
    assert not pdq.compare(base, _flip(base, 10), threshold=9).matched
    with pytest.raises(InputError, match="whole number of bits"):
        pdq.compare(base, base, threshold=2.5)


def test_pdq_of_an_image_and_its_noisy_resized_copy_match() -> None:
    pdq = get_signal_type("image_pdq")
    original = synthetic_image()
    # Down-scale by 2 (block average), back up, and add JPEG-like noise.
    small = original.reshape(64, 2, 64, 2, 3).mean(axis=(1, 3))
    rng = np.random.default_rng(1)
    noisy = np.clip(np.repeat(np.repeat(small, 2, 0), 2, 1) + rng.normal(0, 6, original.shape), 0, 255)
    first = pdq_from_pixels(original)
    second = pdq_from_pixels(noisy.astype(np.uint8))
    other = pdq_from_pixels(synthetic_image(seed=99))
    assert first.quality >= 50
    assert pdq.compare(first.value, second.value).matched
    assert pdq.compare(first.value, second.value).distance <= 31
    assert not pdq.compare(first.value, other.value).matched
    # Grey images are accepted; other shapes are refused with the shape named.
    assert len(pdq_from_pixels(original[:, :, 0]).value) == 64
    with pytest.raises(InputError, match=r"shape \(4, 4, 4\)"):
        pdq_from_pixels(np.zeros((4, 4, 4), dtype=np.uint8))


ARABIC = "الانتخابات مزورة والنتائج معروفة مسبقا في كل المدن"
ARABIC_VARIANTS = [
    "الانتخاباتُ مزوّرةٌ والنتائجُ معروفةٌ مسبقاً في كلّ المدن",  # harakat and shadda
    "الانتخـــابات مزورة والنتـائج معروفة مسبقا في كل المدن",  # tatweel
    "الانتخابات مزورة والنتائج معروفه مسبقا في كل المدن!!",  # taa marbuta as haa, punctuation
]
FRENCH = "Les élections sont truquées, le résultat était connu d'avance"
FRENCH_VARIANTS = [
    "LES ELECTIONS SONT TRUQUEES, le resultat etait connu d'avance",
    "Les élections sont truquées… le résultat était connu d’avance 🙄 https://t.co/abc",
    "Les e\u0301lections sont truque\u0301es, le re\u0301sultat e\u0301tait connu d'avance",  # decomposed
]


@pytest.mark.parametrize(("text", "variants"), [(ARABIC, ARABIC_VARIANTS), (FRENCH, FRENCH_VARIANTS)])
def test_text_variants_share_exact_hash_and_minhash(text: str, variants: list[str]) -> None:
    exact, minhash = get_signal_type("text_exact"), get_signal_type("text_minhash")
    for variant in variants:
        assert exact.hash_text(variant) == exact.hash_text(text)  # type: ignore[attr-defined]
        assert minhash.hash_text(variant) == minhash.hash_text(text)  # type: ignore[attr-defined]
    assert exact.hash_text(text) != exact.hash_text(text + " ailleurs")  # type: ignore[attr-defined]


def _jaccard_of_shingles(a: str, b: str) -> float:
    from vigil.ingest.text import normalize_text

    def grams(text: str) -> set[str]:
        normal = normalize_text(text)
        return {normal[i : i + 5] for i in range(len(normal) - 4)}

    ga, gb = grams(a), grams(b)
    return len(ga & gb) / len(ga | gb)


BASE = (
    "Le vote par correspondance a été compté deux fois dans plusieurs bureaux de Berlin, "
    "partagez avant suppression"
)
NEAR = "Le vote par correspondance a été compté deux fois dans plusieurs bureaux de Berlin, partagez vite"
FAR = "Le vote par correspondance a été compté normalement selon la commission électorale de Berlin"


def test_minhash_estimates_jaccard_and_thresholds() -> None:
    minhash = get_signal_type("text_minhash")
    assert isinstance(minhash, TextMinhashSignal)
    base, near, far = (minhash.hash_text(t) for t in (BASE, NEAR, FAR))
    true_near, true_far = _jaccard_of_shingles(BASE, NEAR), _jaccard_of_shingles(BASE, FAR)
    assert true_near > 0.8 and true_far < 0.45
    near_cmp, far_cmp = minhash.compare(base, near), minhash.compare(base, far)
    # The estimate is within 4 standard errors of the true Jaccard similarity.
    assert abs((1 - near_cmp.distance) - true_near) < 0.15
    assert abs((1 - far_cmp.distance) - true_far) < 0.15
    assert near_cmp.matched and not far_cmp.matched
    similarity = 1 - near_cmp.distance
    # Threshold edges: exactly the estimated similarity matches, one position more does not.
    assert minhash.compare(base, near, threshold=similarity).matched
    assert not minhash.compare(base, near, threshold=similarity + 1 / 128).matched


def test_arabic_near_duplicate_above_and_unrelated_below_threshold() -> None:
    minhash = get_signal_type("text_minhash")
    edited = ARABIC + " وهذا واضح"
    unrelated = "الطقس جميل اليوم في المدينة ونذهب الى البحر"
    base = minhash.hash_text(ARABIC)  # type: ignore[attr-defined]
    assert minhash.compare(base, minhash.hash_text(edited)).matched  # type: ignore[attr-defined]
    assert not minhash.compare(base, minhash.hash_text(unrelated)).matched  # type: ignore[attr-defined]


def test_text_hash_of_nothing_is_refused() -> None:
    for name in ("text_exact", "text_minhash"):
        with pytest.raises(InputError, match="nothing left to hash"):
            get_signal_type(name).hash_text("https://t.co/x @someone 🙄")  # type: ignore[attr-defined]


def test_short_texts_are_not_derived() -> None:
    post = sample_post() | {"text": "Votez maintenant !"}
    assert get_signal_type("text_exact").derive_from_post(post) == []  # type: ignore[attr-defined]


def test_narrative_same_when_normal_forms_equal() -> None:
    narrative = get_signal_type("narrative")
    a = narrative.normalize("  The postal   votes were COUNTED twice! ")
    assert a == "The postal votes were COUNTED twice!"
    assert narrative.compare(a, "the postal votes were counted twice").matched
    assert not narrative.compare(a, "the postal votes were counted once").matched
    with pytest.raises(InputError, match="at most 2000"):
        narrative.normalize("x" * 2001)


def _reference_signature(normal: str) -> list[int]:
    """The documented MinHash scheme in plain Python integers, independent of the numpy code."""
    mask = (1 << 64) - 1

    def splitmix(z: int) -> int:
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9 & mask
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB & mask
        return z ^ (z >> 31)

    width = min(5, len(normal))
    shingles = set()
    for start in range(len(normal) - width + 1):
        acc = 0
        for ch in normal[start : start + width]:
            acc = (acc * 1_000_003 + ord(ch)) & mask
        shingles.add(splitmix(acc))
    golden = 0x9E3779B97F4A7C15
    out = []
    for i in range(128):
        a = splitmix((i + 1) * golden & mask) | 1
        b = splitmix((i + 129) * golden & mask)
        out.append(min((a * x + b) & mask for x in shingles) >> 32)
    return out


def test_minhash_matches_the_documented_scheme_and_batches_agree() -> None:
    from vigil.signals.text_minhash import signatures_of_normal_forms

    normals = [
        "les elections sont truquees",
        "ab",
        "x",
        "الانتخابات مزوره",
        "😀 emoji kept if given",
        "abcde",
    ]
    batch = signatures_of_normal_forms(normals)
    for normal, row in zip(normals, batch, strict=True):
        assert row.tolist() == _reference_signature(normal)
    with pytest.raises(InputError, match="nothing left"):
        signatures_of_normal_forms(["fine text", ""])


def test_batch_derivation_equals_per_post_derivation() -> None:
    texts = [FRENCH, None, "trop court", ARABIC, "", BASE, FRENCH_VARIANTS[1]]
    for name in ("text_exact", "text_minhash"):
        signal_type = get_signal_type(name)
        per_post = [signal_type.derive_from_post(sample_post() | {"text": t}) for t in texts]  # type: ignore[attr-defined]
        assert signal_type.derive_from_texts(texts) == per_post  # type: ignore[attr-defined]
        assert [bool(v) for v in per_post] == [True, False, False, True, False, True, True]


FR_BASE = BASE
AR_BASE = "الانتخابات مزورة والنتائج معروفة مسبقا في كل المدن ولن نقبل بهذه المهزلة"


@pytest.mark.parametrize(
    ("base", "variant", "matches"),
    [
        (FR_BASE, FR_BASE.replace("deux fois", "trois fois").replace("Berlin", "Munich"), True),
        (FR_BASE, FR_BASE.replace("plusieurs bureaux de Berlin", "certains bureaux"), True),
        (FR_BASE, FR_BASE.replace(", partagez avant suppression", " selon des témoins"), False),
        (FR_BASE, FR_BASE.replace("partagez avant suppression", "faites circuler"), False),
        (AR_BASE, AR_BASE + " شاركوا قبل الحذف", True),
        (AR_BASE, AR_BASE.replace("مسبقا", "منذ البداية"), False),
    ],
)
def test_near_duplicates_just_above_and_below_the_threshold(base: str, variant: str, matches: bool) -> None:
    minhash = get_signal_type("text_minhash")
    result = minhash.compare(minhash.hash_text(base), minhash.hash_text(variant))  # type: ignore[attr-defined]
    estimate, true = 1 - result.distance, _jaccard_of_shingles(base, variant)
    assert result.matched is matches
    # Near the threshold on both sides: these pairs are the hard cases, not easy ones.
    assert 0.55 <= estimate < 0.8
    assert abs(estimate - true) < 0.12
    assert (true >= 0.7) is matches or abs(true - 0.7) < 0.05


def test_every_disarm_technique_id_is_a_valid_value(shared_data: Path) -> None:
    """The real DISARM framework bundle: all 391 technique ids are values as they stand."""
    import json

    bundle = json.loads((shared_data / "disarm" / "DISARM.json").read_text(encoding="utf-8"))
    ids = [
        ref["external_id"]
        for obj in bundle["objects"]
        if obj["type"] == "attack-pattern"
        for ref in obj.get("external_references", [])
        if "external_id" in ref
    ]
    technique = get_signal_type("technique")
    assert len(ids) == 391
    assert [technique.normalize(i) for i in ids] == ids
    assert [technique.normalize(i.lower()) for i in ids] == ids
    tactics = [
        ref["external_id"]
        for obj in bundle["objects"]
        if obj["type"] == "x-mitre-tactic"
        for ref in obj.get("external_references", [])
        if "external_id" in ref
    ]
    for tactic in tactics:  # TA01...: tactics are not techniques
        with pytest.raises(InputError):
            technique.normalize(tactic)


def test_pdq_of_image_files_png_against_resized_jpeg() -> None:
    """Real encoders: the PNG of an image and a half-size JPEG (quality 60) of it match."""
    import io

    from PIL import Image

    pdq = get_signal_type("image_pdq")
    original = png_bytes()
    buffer = io.BytesIO()
    Image.fromarray(synthetic_image()).resize((64, 64)).save(buffer, format="JPEG", quality=60)
    jpeg = buffer.getvalue()
    a, b = pdq.hash_bytes(original), pdq.hash_bytes(jpeg)  # type: ignore[attr-defined]
    assert pdq.compare(a, b).matched, pdq.compare(a, b)
    assert not pdq.compare(a, pdq.hash_bytes(png_bytes(seed=99))).matched  # type: ignore[attr-defined]
    assert get_signal_type("image_md5").hash_bytes(original) != get_signal_type("image_md5").hash_bytes(jpeg)  # type: ignore[attr-defined]
    with pytest.raises(InputError, match="not an image Pillow can decode"):
        pdq.hash_bytes(b"GIF89a but not really")  # type: ignore[attr-defined]
