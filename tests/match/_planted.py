"""A hand-made case: signals a partner shares, and posts of ours of which exactly some carry them
(URL variants, a domain, a hashtag, an account, Arabic and French near-duplicate text, PDQ hashes
31 and 32 bits away)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from tests.match.conftest import Coalition, post, write_posts
from vigil.exchange.records import TLP
from vigil.signals import get_signal_type

ARABIC = "الانتخابات مزورة وصناديق الاقتراع امتلأت بأصوات الموتى في الدائرة الثالثة، شاركوا قبل الحذف"
ARABIC_VARIANT = "الانتخابات مزورة وصناديق الاقتراع امتلأت بأصوات الموتى في الدائرة الخامسة، شاركوا قبل الحذف"
ARABIC_OTHER = "الطقس جميل اليوم في المدينة ونحن نستمتع بالقهوة مع الأصدقاء في الحديقة العامة"
FRENCH = (
    "Les bulletins de vote ont été comptés deux fois à Marseille, les médias se taisent, "
    "partagez avant suppression"
)
FRENCH_VARIANT = (
    "Les bulletins de vote ont été comptés TROIS fois à Marseille !! les médias se taisent… "
    "partagez avant suppression"
)
FRENCH_OTHER = (
    "Les bulletins de vote ont été comptés correctement à Marseille selon la préfecture et les observateurs"
)

_rng = random.Random(7)
PDQ = f"{_rng.getrandbits(256):064x}"


def flip(code: str, bits: int) -> str:
    positions = random.Random(bits).sample(range(256), bits)
    value = int(code, 16)
    for p in positions:
        value ^= 1 << p
    return f"{value:064x}"


def minhash(text: str) -> str:
    return get_signal_type("text_minhash").hash_text(text)  # type: ignore[attr-defined,no-any-return]


def plant_signals(ex: Coalition) -> dict[str, str]:
    """Submit the partner's signals; returns label -> signal id."""
    campaign = ex.campaign("source", "Cloned outlets")
    ids = {}
    ids["url"] = ex.submit(
        "source",
        "url",
        "http://www.Example-News.com/article/1/?utm_source=tw",
        campaign_id=campaign,
        confidence=80,
    ).id
    ids["domain"] = ex.submit("source", "domain", "cloned-outlet.info", confidence=70).id
    ids["hashtag"] = ex.submit("source", "hashtag", "#WahlBetrug", confidence=60).id
    ex.submit("gov", "hashtag", "wahlbetrug", confidence=90)  # a second contribution, same signal
    ids["account"] = ex.submit("source", "account", "twitter:@Bot_One", TLP.AMBER, confidence=90).id
    ids["arabic"] = ex.submit("source", "text_minhash", minhash(ARABIC), confidence=75).id
    ids["french"] = ex.submit("source", "text_minhash", minhash(FRENCH), confidence=75).id
    ids["pdq"] = ex.submit("source", "image_pdq", PDQ, confidence=85).id
    return ids


def plant_posts(path: Path) -> tuple[Path, set[tuple[str, str]]]:
    """Our posts and the (post id, signal type) pairs that must match, and no others."""
    rows: list[dict[str, Any]] = [
        post("url-plain", urls=["https://example-news.com/article/1"], minute=1),
        post("url-variant", urls=["http://m.example-news.com/article/1?fbclid=abc#top"], minute=2),
        post("url-other-page", urls=["https://example-news.com/article/2"], minute=3),
        post("domain", urls=["https://www.cloned-outlet.info/story?id=3"], minute=4),
        post("domain-other-tld", urls=["https://cloned-outlet.org/story?id=3"], minute=5),
        post("hashtag", hashtags=["wahlbetrug", "news"], minute=6),
        post("account", account_id="999", handle="Bot_One", minute=7),
        post("account-other-platform", platform="facebook", account_id="999", handle="bot_one", minute=8),
        post("arabic", text=ARABIC_VARIANT, minute=9),
        post("arabic-other", text=ARABIC_OTHER, minute=10),
        post("french", text=FRENCH_VARIANT, minute=11),
        post("french-other", text=FRENCH_OTHER, minute=12),
        post("pdq-31", pdq=[flip(PDQ, 31)], minute=13),
        post("pdq-32", pdq=[flip(PDQ, 32)], minute=14),
        post(
            "two-signals",
            account_id="a2",
            urls=["https://example-news.com/article/1?utm_medium=x"],
            hashtags=["wahlbetrug"],
            minute=15,
        ),
    ]
    expected = {
        ("url-plain", "url"),
        ("url-variant", "url"),
        ("domain", "domain"),
        ("hashtag", "hashtag"),
        ("account", "account"),
        ("arabic", "text_minhash"),
        ("french", "text_minhash"),
        ("pdq-31", "image_pdq"),
        ("two-signals", "url"),
        ("two-signals", "hashtag"),
    }
    return write_posts(path, rows), expected
