"""Image MD5 signal: the MD5 digest of an image file's bytes.

Catches only byte-identical files (any re-encode changes it), which is exactly what makes it cheap
and free of false positives; PDQ covers the near-duplicates. Derived from a post's ``image_ids``
when those are MD5 digests (32 hex characters); other opaque ids are not signals of this type.
"""

from __future__ import annotations

import hashlib
import re

from vigil.signals.base import Row, SignalType, dedupe, normalize_hex

_MD5 = re.compile(r"[0-9a-fA-F]{32}")


class ImageMd5Signal(SignalType):
    name = "image_md5"
    description = "MD5 of an image file's bytes, 32 hex characters."
    examples = ("d41d8cd98f00b204e9800998ecf8427e", "9e107d9d372bb6826bd81d3542a419d6")

    def normalize(self, value: str) -> str:
        return normalize_hex(self.name, value, 32)

    def hash_bytes(self, data: bytes) -> str:
        # Not a security use: MD5 is the identifier platforms already exchange for exact media.
        return hashlib.md5(data, usedforsecurity=False).hexdigest()

    def derive_from_post(self, post: Row) -> list[str]:
        ids = post.get("image_ids") or []
        return dedupe([i.strip().lower() for i in ids if i and _MD5.fullmatch(i.strip())])


SIGNAL_TYPE = ImageMd5Signal()
