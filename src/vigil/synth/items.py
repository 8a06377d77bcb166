"""Things organic posts share: news links, hashtags, meme images, and the real-world events.

Popularity is Zipf-like, so many unrelated accounts share the same head items; events add bursts in
which thousands of accounts post the same hashtag or link within minutes (organic co-sharing that a
naive detector mistakes for coordination).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.ingest.urls import UrlInfo, canonicalize
from vigil.schema.tables import URL_STRUCT
from vigil.synth.arrowkit import US_PER_S, weighted_pick, zipf_weights
from vigil.synth.banks import LANGS, world

URL_VARIANTS = 4  # plain, http+www toggled, tracking parameters, shortener
ORGANIC_VARIANT_P = np.array([0.55, 0.15, 0.2, 0.1])
ARTICLE_AGE_DAYS = 30  # articles were published up to this many days before the period
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _base62(value: int, width: int) -> str:
    out = []
    for _ in range(width):
        value, r = divmod(value, 62)
        out.append(_B62[r])
    return "".join(out)


@lru_cache(maxsize=1 << 17)
def canonical_url(url: str) -> UrlInfo:
    """canonicalize() with a bounded cache: the head of the link distribution repeats a lot."""
    return canonicalize(url)


def url_structs(urls: list[str]) -> pa.Array:
    """URL_STRUCT values for posted URL strings."""
    infos = [canonical_url(u) for u in urls]
    return pa.StructArray.from_arrays(
        [
            pa.array([i.url for i in infos], type=pa.string()),
            pa.array([i.canonical for i in infos], type=pa.string()),
            pa.array([i.domain for i in infos], type=pa.string()),
            pa.array([i.is_shortener for i in infos], type=pa.bool_()),
        ],
        fields=list(URL_STRUCT),
    )


@dataclass(frozen=True)
class Event:
    """A real-world moment (debate, election day) that makes organic posting burst."""

    name: str
    start_us: int
    scale_us: int  # posts arrive start + Exponential(scale)
    share: float  # share of organic posts that belong to this burst
    hashtag: np.ndarray  # per LANGS index: index into the hashtag pool
    article: np.ndarray  # per LANGS index: index into the link pool (a live page)


class LinkPool:
    """News articles with Zipf popularity per language; each can be posted in several spellings.

    URL structs are built vectorized: ``canonicalize`` runs once per (domain, spelling) template on
    a placeholder path and the article's path is substituted (our paths are plain ASCII words, digits
    and hyphens, which canonicalization leaves alone; a test checks this against canonicalize itself).
    """

    PLACEHOLDER = "/VigilPathToken0"

    def __init__(
        self, rng: np.random.Generator, count: int, lang_share: np.ndarray, start_us: int, days: int
    ):
        w = world()
        self.start_us = start_us
        self.days = days
        self.domains = [w["domains"][lang] for lang in LANGS]
        self.words: list[str] = w["path_words"]
        self.shorteners: list[str] = w["shorteners"]
        self.lang = rng.choice(len(LANGS), size=count, p=lang_share / lang_share.sum()).astype(np.int8)
        # Head domains get most links (Zipf over each language's domain list).
        self.domain = np.zeros(count, dtype=np.int64)
        for li in range(len(LANGS)):
            sel = self.lang == li
            dw = zipf_weights(len(self.domains[li]), 0.8)
            self.domain[sel] = weighted_pick(rng, np.cumsum(dw), int(sel.sum()))
        # Publication day, before the period starts, so that no post links an article from its future.
        self.day = rng.integers(-ARTICLE_AGE_DAYS, 0, size=count)
        self.word_a = rng.integers(0, len(self.words), size=count)
        self.word_b = (self.word_a + rng.integers(1, len(self.words), size=count)) % len(self.words)
        self.salt = rng.integers(0, 62**7, size=count)
        self.special: dict[int, str] = {}  # event live pages: fixed URLs
        self.members: list[np.ndarray] = []
        self.cumulative: list[np.ndarray] = []
        for li in range(len(LANGS)):
            members = rng.permutation(np.flatnonzero(self.lang == li))
            self.members.append(members)
            self.cumulative.append(np.cumsum(zipf_weights(max(len(members), 1), 1.05)))
        self.count = count
        self._templates: tuple[pa.Array, ...] | None = None

    def add_special(self, url: str) -> int:
        """Register a fixed URL (an event's live page) and return its article index."""
        index = self.count + len(self.special)
        self.special[index] = url
        return index

    def sample(self, rng: np.random.Generator, lang: np.ndarray) -> np.ndarray:
        """An article per post, by the popularity of articles in the post's language."""
        out = np.empty(len(lang), dtype=np.int64)
        for li in range(len(LANGS)):
            sel = np.flatnonzero(lang == li)
            if len(sel) and len(self.members[li]):
                out[sel] = self.members[li][weighted_pick(rng, self.cumulative[li], len(sel))]
            elif len(sel):
                out[sel] = self.members[0][weighted_pick(rng, self.cumulative[0], len(sel))]
        return out

    # --- spellings ------------------------------------------------------------------------------

    def _date(self, article: int) -> str:
        day = np.datetime64(self.start_us, "us") + np.timedelta64(int(self.day[article]), "D")
        return str(day.astype("datetime64[D]")).replace("-", "/")

    def _domain_name(self, article: int) -> str:
        name: str = self.domains[self.lang[article]][self.domain[article]]
        return name

    def _affixes(self, domain: str, variant: int) -> tuple[str, str]:
        """(before the path, after the path) of a spelling variant on ``domain``."""
        if variant == 1:
            host = domain[4:] if domain.startswith("www.") else "www." + domain
            return f"http://{host}", ""
        if variant == 2:
            return f"https://{domain}", "?utm_source=share&utm_medium=social&utm_campaign=post"
        return f"https://{domain}", ""

    def path(self, article: int) -> str:
        words = self.words
        return f"/{self._date(article)}/{words[self.word_a[article]]}-{words[self.word_b[article]]}-{article}"

    def short_path(self, article: int) -> str:
        return "/" + _base62(int(self.salt[article]), 7)

    def spelling(self, key: int) -> str:
        """The URL string of ``key`` = article * URL_VARIANTS + variant, as a user would post it."""
        article, variant = divmod(key, URL_VARIANTS)
        if article in self.special:
            base = self.special[article]
            return base + "?utm_source=share&utm_medium=social" if variant == 2 else base
        if variant == 3:
            return f"https://{self.shorteners[article % len(self.shorteners)]}{self.short_path(article)}"
        before, after = self._affixes(self._domain_name(article), variant)
        return before + self.path(article) + after

    def _template_arrays(self) -> tuple[pa.Array, ...]:
        """Per template (domain x variant 0-2, then shorteners): spelled and canonical affixes."""
        if self._templates is None:
            rows: list[tuple[str, str, str, str, str | None, bool]] = []
            for domains in self.domains:
                for domain in domains:
                    for variant in range(3):
                        rows.append(self._template(*self._affixes(domain, variant)))
            for shortener in self.shorteners:
                rows.append(self._template(f"https://{shortener}", ""))
            self._templates = tuple(pa.array([r[i] for r in rows]) for i in range(6))
        return self._templates

    def _template(self, before: str, after: str) -> tuple[str, str, str, str, str | None, bool]:
        info = canonicalize(before + self.PLACEHOLDER + after)
        head, sep, tail = info.canonical.partition(self.PLACEHOLDER)
        if not sep:
            raise AssertionError(f"canonicalization changed the placeholder path: {info.canonical}")
        return before, after, head, tail, info.domain, info.is_shortener

    def _template_index(self, article: np.ndarray, variant: np.ndarray) -> np.ndarray:
        offsets = np.cumsum([0] + [len(d) for d in self.domains])
        domain_global = offsets[self.lang[article]] + self.domain[article]
        n_templates = int(offsets[-1]) * 3
        return np.where(
            variant == 3,
            n_templates + article % len(self.shorteners),
            domain_global * 3 + np.minimum(variant, 2),
        )

    def _paths(self, article: np.ndarray, variant: np.ndarray) -> pa.Array:
        first_day = np.datetime64(self.start_us, "us").astype("datetime64[D]")
        day_values = np.arange(-ARTICLE_AGE_DAYS, 0)
        dates = pa.array([str(first_day + np.timedelta64(int(d), "D")).replace("-", "/") for d in day_values])
        words = pa.array(self.words)
        news = pc.binary_join_element_wise(
            "/",
            dates.take(pa.array(self.day[article] + ARTICLE_AGE_DAYS)),
            "/",
            words.take(pa.array(self.word_a[article])),
            "-",
            words.take(pa.array(self.word_b[article])),
            "-",
            pa.array(article, type=pa.int64()).cast(pa.string()),
            "",
        )
        short = pc.binary_join_element_wise("/", _base62_array(self.salt[article], 7), "")
        return pc.if_else(pa.array(variant == 3), short, news)

    def structs(self, keys: np.ndarray) -> pa.Array:
        """URL_STRUCT values for URL keys (vectorized over the distinct keys)."""
        uniq, inverse = np.unique(keys, return_inverse=True)
        article, variant = np.divmod(uniq, URL_VARIANTS)
        special = article >= self.count
        parts: list[pa.Array] = []
        positions: list[np.ndarray] = []
        regular = np.flatnonzero(~special)
        if len(regular):
            a, v = article[regular], variant[regular]
            tmpl = pa.array(self._template_index(a, v))
            before, after, head, tail, domain, short = (x.take(tmpl) for x in self._template_arrays())
            path = self._paths(a, v)
            parts.append(
                pa.StructArray.from_arrays(
                    [
                        pc.binary_join_element_wise(before, path, after, ""),
                        pc.binary_join_element_wise(head, path, tail, ""),
                        domain,
                        short,
                    ],
                    fields=list(URL_STRUCT),
                )
            )
            positions.append(regular)
        odd = np.flatnonzero(special)
        if len(odd):
            parts.append(url_structs([self.spelling(int(k)) for k in uniq[odd]]))
            positions.append(odd)
        values = pa.concat_arrays(parts)
        where = np.empty(len(uniq), dtype=np.int64)
        where[np.concatenate(positions)] = np.arange(len(uniq))
        return values.take(pa.array(where[inverse]))


def _base62_array(values: np.ndarray, width: int) -> pa.Array:
    """Base-62 strings (little-endian digits, like _base62) of an int64 array."""
    table = np.frombuffer(_B62.encode("ascii"), dtype=np.uint8)
    digits = np.empty((len(values), width), dtype=np.uint8)
    rest = values.astype(np.int64).copy()
    for i in range(width):
        rest, r = np.divmod(rest, 62)
        digits[:, i] = table[r]
    offsets = np.arange(len(values) + 1, dtype=np.int32) * width
    return pa.StringArray.from_buffers(
        len(values), pa.py_buffer(offsets.tobytes()), pa.py_buffer(digits.tobytes())
    )


class HashtagPool:
    """Hashtags in display form (``#`` omitted) with per-language Zipf popularity."""

    def __init__(self, rng: np.random.Generator, long_tail: int):
        w = world()
        display: list[str] = []
        base_of: list[list[int]] = []
        for lang in LANGS:
            start = len(display)
            display.extend(w["hashtags"][lang])
            base_of.append(list(range(start, len(display))))
        words = [x.capitalize() for x in w["tag_words"]]
        tail_start = len(display)
        pairs = [a + b for a in words for b in words if a != b]
        order = rng.permutation(len(pairs))[:long_tail]
        display.extend(pairs[i] for i in order)
        tail = np.arange(tail_start, len(display))
        self.display: list[str] = display
        self.members: list[np.ndarray] = []
        self.cumulative: list[np.ndarray] = []
        for li in range(len(LANGS)):
            # The language's own tags head the ranking, the shared long tail follows in random order.
            members = np.concatenate([np.array(base_of[li], dtype=np.int64), rng.permutation(tail)])
            self.members.append(members)
            self.cumulative.append(np.cumsum(zipf_weights(len(members), 1.1)))
        self._frozen: tuple[pa.Array, pa.Array] | None = None

    def add(self, tag: str) -> int:
        if self._frozen is not None:
            raise RuntimeError("hashtag pool is frozen")
        self.display.append(tag)
        return len(self.display) - 1

    def arrays(self) -> tuple[pa.Array, pa.Array]:
        """(``#Display`` strings for texts, lower-case strings for the hashtags column)."""
        if self._frozen is None:
            shown = pa.array(self.display)
            self._frozen = (pc.binary_join_element_wise("#", shown, ""), pc.utf8_lower(shown))
        return self._frozen

    def sample(self, rng: np.random.Generator, lang: np.ndarray) -> np.ndarray:
        out = np.empty(len(lang), dtype=np.int64)
        for li in range(len(LANGS)):
            sel = np.flatnonzero(lang == li)
            if len(sel):
                out[sel] = self.members[li][weighted_pick(rng, self.cumulative[li], len(sel))]
        return out


class MemePool:
    """Images many unrelated accounts re-post (memes, screenshots): organic near-duplicate PDQ hashes."""

    def __init__(self, rng: np.random.Generator, count: int):
        self.codes = rng.integers(0, 256, size=(count, 32), dtype=np.uint8)
        self.cumulative = np.cumsum(zipf_weights(count, 1.0))

    def sample(self, rng: np.random.Generator, n: int, max_flips: int) -> np.ndarray:
        picked = self.codes[weighted_pick(rng, self.cumulative, n)]
        return flip_bits(rng, picked, rng.integers(0, max_flips + 1, size=n))


def flip_bits(rng: np.random.Generator, codes: np.ndarray, flips: np.ndarray) -> np.ndarray:
    """Flip exactly ``flips[i]`` distinct random bits of row ``i`` of (n, 32) uint8 ``codes``."""
    out = codes.copy()
    n = len(codes)
    most = int(flips.max()) if n else 0
    if most == 0:
        return out
    use = np.arange(most)[None, :] < flips[:, None]
    # Draw positions independently; the few rows that drew a position twice get distinct positions
    # from a random ranking of all 256 bits instead (cheap because they are few).
    positions = rng.integers(0, 256, size=(n, most))
    marked = np.where(use, positions, 256 + np.arange(most)[None, :])
    ordered = np.sort(marked, axis=1)
    clash = np.flatnonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1))
    if len(clash):
        ranking = np.argsort(rng.random((len(clash), 256)), axis=1)[:, :most]
        positions[clash] = ranking
    rows = np.repeat(np.arange(n), most).reshape(n, most)[use]
    bits = positions[use]
    np.bitwise_xor.at(out, (rows, bits // 8), (1 << (7 - bits % 8)).astype(np.uint8))
    return out


def make_events(start_us: int, days: int, links: LinkPool, tags: HashtagPool) -> list[Event]:
    """The configured events placed in the period (fractions of its length), with live pages."""
    events = []
    end_us = start_us + days * 86_400 * US_PER_S
    live_domain = {
        "en": "youtube.com",
        "fr": "francetvinfo.fr",
        "ar": "aljazeera.net",
        "de": "tagesschau.de",
        "es": "rtve.es",
    }
    for spec in world()["events"]:
        day = int(spec["at_fraction"] * days)
        t0 = start_us + (day * 24 + int(spec["hour_utc"])) * 3600 * US_PER_S
        t0 = min(t0, end_us - 3600 * US_PER_S)
        hashtag = np.array([tags.add(spec["hashtags"][lang]) for lang in LANGS], dtype=np.int64)
        article = np.array(
            [
                links.add_special(f"https://{live_domain[lang]}/live/{spec['name'].replace('_', '-')}-{lang}")
                for lang in LANGS
            ],
            dtype=np.int64,
        )
        events.append(
            Event(
                spec["name"],
                t0,
                int(spec["scale_minutes"] * 60 * US_PER_S),
                float(spec["share"]),
                hashtag,
                article,
            )
        )
    return events
