"""URL signal: a canonical URL (``vigil.ingest.urls.canonicalize``), so the same article shared on two
platforms with different tracking parameters, ``www.``, ``http`` or ``utm_*`` is one signal.

Shortener links (``bit.ly/...``) stay as they are: their target is unknown offline, so they match
only the same short link.
"""

from __future__ import annotations

from vigil.core.errors import InputError
from vigil.ingest.urls import canonicalize
from vigil.signals.base import Row, SignalType, dedupe


class UrlSignal(SignalType):
    name = "url"
    description = "A canonical http(s) URL (tracking parameters, www., fragment and http/https folded)."
    examples = (
        "https://example.com/news/2021/vote",
        "https://bit.ly/3xYz",
        "https://youtube.com/watch?v=abc",
    )

    def normalize(self, value: str) -> str:
        info = canonicalize(value)
        if info.domain is None:
            raise InputError(
                f"url value must be an http(s) URL with a valid host name, got {value.strip()[:100]!r}"
            )
        return info.canonical

    def derive_from_post(self, post: Row) -> list[str]:
        """Canonical URLs of the post; links that are not http(s) URLs (anonymized ids, garbage kept
        by the ingest) are not URL signals and are skipped."""
        found = []
        for item in post.get("urls") or []:
            text = item.get("canonical") or item.get("url")
            if not text:
                continue
            try:
                found.append(self.normalize(text))
            except InputError:
                continue
        return dedupe(found)


SIGNAL_TYPE = UrlSignal()
