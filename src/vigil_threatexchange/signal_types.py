"""Signal types Vigil shares that python-threatexchange has no equivalent for.

* ``vigil_text_exact``: SHA-256 of a text's Vigil normal form, so ``threatexchange match text`` hashes
  the text exactly as Vigil does (case, accents, URLs, mentions, spacing folded) and finds copies.
* ``vigil_url``: a canonical URL (Vigil kind ``url``); matches a URL or text containing a link whose
  Vigil canonical form is the same (tracking parameters, ``www.``, case and fragments folded), where
  threatexchange's own ``url`` type compares strings exactly.
* ``vigil_domain``: a registrable domain; matches a URL or text that links to that domain (any
  sub-domain), as Vigil's own matcher does.

The hashing and normalization are Vigil's (``vigil.signals``), not re-implemented here.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from threatexchange.content_type.content_base import ContentType
from threatexchange.content_type.text import TextContent
from threatexchange.content_type.url import URLContent
from threatexchange.signal_type import signal_base

from vigil.core.errors import VigilError

_URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
_URL_HOST = re.compile(r"(?:https?://)?(?:[\w-]+\.)+[\w-]+", re.IGNORECASE)


# Vigil's signal code is imported on first use, not at import: the threatexchange CLI imports every
# extension on every command, and vigil.signals pulls in pyarrow and numpy (~0.3 s).
@cache
def _vigil_type(name: str) -> Any:
    from vigil.signals.registry import get_signal_type

    return get_signal_type(name)


def _canonical_url(url: str) -> str | None:
    from vigil.ingest.urls import canonicalize

    info = canonicalize(url)
    return info.canonical if info.domain is not None else None


def _registrable_domain(host: str) -> str | None:
    from vigil.ingest.urls import registrable_domain

    return registrable_domain(host)


class VigilTextExactSignal(signal_base.SimpleSignalType, signal_base.TextHasher):
    """SHA-256 of the Vigil normal form of a post's text (Vigil signal kind ``text_exact``)."""

    INDICATOR_TYPE = "VIGIL_TEXT_EXACT"

    @classmethod
    def get_name(cls) -> str:
        return "vigil_text_exact"

    @classmethod
    def get_content_types(cls) -> list[type[ContentType]]:
        return [TextContent]

    @classmethod
    def get_index_cls(cls) -> type[signal_base.TrivialSignalTypeIndex[Any]]:
        return signal_base.TrivialSignalTypeIndex

    @classmethod
    def validate_signal_str(cls, signal_str: str) -> str:
        try:
            return str(_vigil_type("text_exact").normalize(signal_str))
        except VigilError as exc:
            raise ValueError(exc.message) from exc

    @classmethod
    def hash_from_str(cls, text: str) -> str:
        try:
            return str(_vigil_type("text_exact").hash_text(text))
        except VigilError:
            return ""  # nothing left to hash: python-threatexchange skips empty hashes

    @staticmethod
    def get_examples() -> list[str]:
        return ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]


class VigilDomainSignal(signal_base.SignalType, signal_base.MatchesStr):
    """A registrable domain (Vigil kind ``domain``); matches URLs or text linking to it."""

    @classmethod
    def get_name(cls) -> str:
        return "vigil_domain"

    @classmethod
    def get_content_types(cls) -> list[type[ContentType]]:
        return [URLContent, TextContent]

    @classmethod
    def get_index_cls(cls) -> type[DomainIndex]:
        return DomainIndex

    @classmethod
    def validate_signal_str(cls, signal_str: str) -> str:
        try:
            return str(_vigil_type("domain").normalize(signal_str))
        except VigilError as exc:
            raise ValueError(exc.message) from exc

    @classmethod
    def matches_str(cls, signal: str, haystack: str) -> signal_base.SignalComparisonResult:
        for found in _URL_HOST.finditer(haystack):
            host = found.group(0).split("://", 1)[-1]
            if _registrable_domain(host) == signal:
                return signal_base.SignalComparisonResult.from_match_only()
        return signal_base.SignalComparisonResult.from_no_match_only()

    @staticmethod
    def get_examples() -> list[str]:
        return ["cloned-news.info"]


class DomainIndex(signal_base.TrivialLinearSearchMatchIndex[Any]):
    """Linear scan of domains (a module-level class: python-threatexchange pickles indexes)."""

    _SIGNAL_TYPE = VigilDomainSignal


class VigilUrlSignal(signal_base.SignalType, signal_base.MatchesStr):
    """A canonical URL (Vigil kind ``url``); matches links with the same Vigil canonical form."""

    @classmethod
    def get_name(cls) -> str:
        return "vigil_url"

    @classmethod
    def get_content_types(cls) -> list[type[ContentType]]:
        return [URLContent, TextContent]

    @classmethod
    def get_index_cls(cls) -> type[UrlIndex]:
        return UrlIndex

    @classmethod
    def validate_signal_str(cls, signal_str: str) -> str:
        try:
            return str(_vigil_type("url").normalize(signal_str))
        except VigilError as exc:
            raise ValueError(exc.message) from exc

    @classmethod
    def matches_str(cls, signal: str, haystack: str) -> signal_base.SignalComparisonResult:
        for found in _URL.finditer(haystack):
            if _canonical_url(found.group(0).rstrip(".,;:!?)")) == signal:
                return signal_base.SignalComparisonResult.from_match_only()
        return signal_base.SignalComparisonResult.from_no_match_only()

    @staticmethod
    def get_examples() -> list[str]:
        return ["https://cloned-news.info/ballots"]


class UrlIndex(signal_base.TrivialLinearSearchMatchIndex[Any]):
    _SIGNAL_TYPE = VigilUrlSignal
