"""Hashtags, mentions and URLs found in post text, for layouts that have no separate columns.

The rules follow what platforms themselves link (twitter-text, Facebook), in any script:

* a hashtag is ``#`` (or the full-width ``＃``) followed by letters, digits, ``_`` and combining marks,
  with at least one letter, not glued to a preceding word character or ``&`` (HTML entities such
  as ``&#39;`` are not hashtags): ``#الانتخابات``, ``#Élection2022``, ``#vote_ja``; numbers alone
  (``#1``) are not hashtags;
* a mention is ``@`` followed by word characters, not glued to a preceding word character (so
  e-mail addresses are not mentions);
* a URL starts with ``http://``, ``https://`` or ``www.`` and runs to the next space; trailing
  punctuation (``.,;:!?'"»…``, the Arabic comma) and unbalanced closing brackets are not part of it.

Text is NFC-normalized first so that decomposed accents match. Hashtags and mentions are
lower-cased without their sigil; every list keeps the order of first appearance, without repeats.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Combining marks (Latin accents written decomposed, Arabic harakat, Indic vowel signs) and
# zero-width joiners are part of a word in hashtags although Python's \w does not match them.
MARKS = (
    "\u0300-\u036f\u0483-\u0489\u0591-\u05bd\u05bf\u05c1\u05c2\u05c4\u05c5\u05c7\u0610-\u061a"
    "\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e4\u06e7\u06e8\u06ea-\u06ed\u0900-\u0903\u093a-\u094f"
    "\u0951-\u0957\u0962\u0963\u0981-\u0983\u09bc-\u09cd\u0e31\u0e34-\u0e3a\u0e47-\u0e4e\u200c\u200d"
)
WORD = rf"[\w{MARKS}]"
# The sigil comes first so the regex engine can skip to it; the look-behind then checks the
# character before the sigil (much faster than a look-behind at every position).
HASHTAG_RE = re.compile(rf"[#＃](?<![\w&{MARKS}][#＃])({WORD}+)")
MENTION_RE = re.compile(r"[@＠](?<![\w@.][@＠])(\w{1,64})")
URL_RE = re.compile(
    r"(?:https?://|www\.)(?<![\w@/]https://)(?<![\w@/]http://)(?<![\w@/]www\.)[^\s<>\"]+", re.I
)
_TRAILING = ".,;:!?'\"»«…،؛。、)]}"
_PAIRS = {")": "(", "]": "[", "}": "{"}


@dataclass(frozen=True, slots=True)
class Entities:
    """What one post's text links to."""

    hashtags: list[str]
    mentions: list[str]
    urls: list[str]


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def extract_hashtags(text: str | None) -> list[str]:
    """Hashtags of ``text``, lower-case, without ``#``, in order, without repeats."""
    if not text or ("#" not in text and "＃" not in text):
        return []
    text = unicodedata.normalize("NFC", text)
    tags = []
    for match in HASHTAG_RE.finditer(text):
        tag = match.group(1)
        if not tag.isdigit() and any(map(str.isalpha, tag)):
            tags.append(tag.lower())
    return _unique(tags)


def extract_mentions(text: str | None) -> list[str]:
    """Mentioned handles of ``text``, lower-case, without ``@``, in order, without repeats."""
    if not text or ("@" not in text and "＠" not in text):
        return []
    return _unique([m.group(1).lower() for m in MENTION_RE.finditer(unicodedata.normalize("NFC", text))])


def _trim_url(url: str) -> str:
    while url:
        last = url[-1]
        if last in _PAIRS:
            # Keep a closing bracket only if the URL opened one (Wikipedia's "Foo_(bar)").
            if url.count(_PAIRS[last]) >= url.count(last):
                break
            url = url[:-1]
        elif last in _TRAILING:
            url = url[:-1]
        else:
            break
    return url


def extract_urls(text: str | None) -> list[str]:
    """URLs written in ``text`` (as written, trailing punctuation removed), in order, without repeats."""
    if not text or ("://" not in text and "www." not in text.lower()):
        return []
    found = [_trim_url(m.group(0)) for m in URL_RE.finditer(text)]
    return _unique([url for url in found if url.lower() not in {"http://", "https://", "www."}])


def extract(text: str | None) -> Entities:
    """Hashtags, mentions and URLs of one post's text."""
    return Entities(extract_hashtags(text), extract_mentions(text), extract_urls(text))


def strip_entities(text: str) -> str:
    """``text`` without URLs and mentions, and with hashtags reduced to their words (for language id)."""
    text = URL_RE.sub(" ", text)
    text = MENTION_RE.sub(" ", text)
    return HASHTAG_RE.sub(lambda m: " " + m.group(1) + " ", text)
