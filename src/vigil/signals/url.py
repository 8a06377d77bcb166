"""URL signal: a canonical URL (``vigil.ingest.urls.canonicalize``), so the same article shared on two
platforms with different tracking parameters, ``www.``, ``http`` or ``utm_*`` is one signal.

Shortener links (``bit.ly/...``) stay as they are: their target is unknown offline, so they match
only the same short link.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.core.errors import InputError
from vigil.ingest.urls import canonicalize
from vigil.signals.base import Row, SignalType, dedupe
from vigil.signals.columns import column, deduped_lists, flatten, nonempty

if TYPE_CHECKING:
    from vigil.ingest.columnar import UrlRules


@cache
def _url_rules() -> UrlRules:
    """The ingest's vectorised canonicalizer (Arrow kernels for plain URLs, ``canonicalize`` once
    per distinct other URL), kept for the process: it remembers hosts and odd URLs across batches."""
    from vigil.ingest.columnar import UrlRules

    return UrlRules()


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

    def derive_columns(self, posts: pa.Table) -> pa.Array:
        """``derive_from_post`` of every post: each link's canonical (else posted) text canonicalized
        again by the ingest's vectorised ``UrlRules`` (the same result as ``canonicalize``), links
        without a host dropped, repeats in a post dropped."""
        from vigil.schema.tables import URL_STRUCT

        parents, items = flatten(column(posts, "urls", pa.list_(URL_STRUCT)))
        canonical = pc.struct_field(items, "canonical")
        text = pc.if_else(pa.array(nonempty(canonical)), canonical, pc.struct_field(items, "url"))
        present = nonempty(text)
        parents, text = parents[present], text.filter(pa.array(present))
        structs = _url_rules().structs(text) if len(text) else None
        if structs is None:
            return deduped_lists(posts.num_rows, parents, text)
        valid = np.asarray(
            pc.is_valid(pc.struct_field(structs, "domain")).to_numpy(zero_copy_only=False), bool
        )
        values = pc.struct_field(structs, "canonical").filter(pa.array(valid))
        return deduped_lists(posts.num_rows, parents[valid], values)


SIGNAL_TYPE = UrlSignal()
