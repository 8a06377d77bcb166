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
        found = []
        for item in post.get("urls") or []:
            canonical = item.get("canonical")
            if canonical and item.get("domain"):
                found.append(canonical)
            elif item.get("url"):
                info = canonicalize(item["url"])
                if info.domain is not None:
                    found.append(info.canonical)
        return dedupe(found)


SIGNAL_TYPE = UrlSignal()
