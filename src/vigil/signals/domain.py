"""Domain signal: a registrable domain (public suffix plus one label, ``vigil.ingest.urls``).

``news.example.co.uk`` and ``www.example.co.uk`` are both ``example.co.uk``: operations rotate
sub-domains cheaply, registrations cost them more. Private suffixes count (``alice.github.io`` stays
whole) so that one blog host does not lump every blog together. IDN domains are written in punycode.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.core.errors import InputError
from vigil.ingest.urls import registrable_domain
from vigil.signals.base import Row, SignalType, dedupe
from vigil.signals.columns import column, deduped_lists, flatten, nonempty, per_distinct

_NOT_A_HOST = re.compile(r"[\s/@?#]")


class DomainSignal(SignalType):
    name = "domain"
    description = "A registrable domain such as example.com or bbc.co.uk (punycode for IDN)."
    examples = ("example.com", "bbc.co.uk", "alice.github.io")

    def normalize(self, value: str) -> str:
        text = value.strip()
        if not text or _NOT_A_HOST.search(text):
            raise InputError(
                f"domain value must be a host name such as example.com (no scheme, path or spaces), "
                f"got {text[:100]!r}"
            )
        domain = registrable_domain(text)
        if domain is None:
            raise InputError(
                f"domain value must end in a public suffix with a name before it (like example.com), "
                f"got {text[:100]!r}"
            )
        return domain

    def derive_from_post(self, post: Row) -> list[str]:
        """Registrable domains of the post's links; values that are not domains are skipped."""
        found = []
        for item in post.get("urls") or []:
            if not item.get("domain"):
                continue
            try:
                found.append(self.normalize(item["domain"]))
            except InputError:
                continue
        return dedupe(found)

    def _value_or_none(self, text: str) -> str | None:
        try:
            return self.normalize(text)
        except InputError:
            return None

    def derive_columns(self, posts: pa.Table) -> pa.Array:
        """``derive_from_post`` of every post, each distinct domain normalized once (remembered
        across batches: a stream links to the same sites over and over)."""
        from vigil.schema.tables import URL_STRUCT

        parents, items = flatten(column(posts, "urls", pa.list_(URL_STRUCT)))
        domains = pc.struct_field(items, "domain")
        present = nonempty(domains)
        values = per_distinct(domains.filter(pa.array(present)), self._value_or_none, self._memo)
        valid = np.asarray(pc.is_valid(values).to_numpy(zero_copy_only=False), dtype=bool)
        return deduped_lists(posts.num_rows, parents[present][valid], values.filter(pa.array(valid)))

    def __init__(self) -> None:
        self._memo: dict[str, str | None] = {}


SIGNAL_TYPE = DomainSignal()
