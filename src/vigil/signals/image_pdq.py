"""Image PDQ signal: Meta's PDQ perceptual hash of an image, 256 bits written as 64 hex characters.

Two images are near-duplicates when their hashes differ in at most ``threshold`` bits (31 by
default, the value PDQ's authors recommend: resizing, re-encoding and light edits stay well under
it, unrelated images land near 128). ``hash_pixels`` computes a hash from decoded pixels with the
``pdqhash`` package; ``hash_bytes`` decodes an image file first with Pillow when the ``images``
extra is installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from vigil.core.errors import ConfigError, InputError
from vigil.signals.base import DistanceSignalType, Row, dedupe, normalize_hex
from vigil.signals.columns import column, deduped_lists, flatten, matches, with_rows

BITS = 256
HEX_CHARS = BITS // 4
DEFAULT_THRESHOLD = 31
# PDQ's reference implementation calls hashes of quality below 50 unreliable (flat or tiny images).
MIN_QUALITY = 50


@dataclass(frozen=True)
class PdqHash:
    value: str  # 64 lower-case hex characters
    quality: int  # 0-100; below MIN_QUALITY the hash says little about the image


def pdq_from_pixels(pixels: npt.NDArray[np.uint8]) -> PdqHash:
    """PDQ of an image given as an H x W x 3 (RGB) or H x W (grey) uint8 array."""
    import pdqhash  # compiled extension: imported only when images are actually hashed

    array = np.asarray(pixels)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise InputError(
            f"PDQ needs an H x W x 3 uint8 image array, got shape {array.shape} of {array.dtype}"
        )
    if min(array.shape[:2]) < 1:
        raise InputError(f"PDQ needs a non-empty image, got shape {array.shape}")
    bits, quality = pdqhash.compute(np.ascontiguousarray(array))
    return PdqHash(bits_to_hex(np.asarray(bits, dtype=np.uint8)), int(quality))


def pdq_from_image_bytes(data: bytes) -> PdqHash:
    """PDQ of an encoded image (JPEG, PNG, GIF, WebP...), decoded with Pillow (the ``images`` extra).

    Frames after the first and any alpha channel are ignored; the image is hashed as RGB.
    """
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ConfigError("decoding image files needs Pillow: pip install 'vigil[images]'") from exc
    import io

    try:
        with Image.open(io.BytesIO(data)) as image:
            pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputError(f"not an image Pillow can decode: {exc}") from exc
    return pdq_from_pixels(pixels)


def bits_to_hex(bits: npt.NDArray[np.uint8]) -> str:
    """256 0/1 values, most significant first, as PDQ's 64-hex-character form."""
    return bytes(np.packbits(bits.astype(np.uint8))).hex()


def hex_to_bytes(values: list[str] | tuple[str, ...]) -> npt.NDArray[np.uint8]:
    """Normalized hex hashes as an (n, 32) uint8 array."""
    if not values:
        return np.zeros((0, BITS // 8), dtype=np.uint8)
    joined = bytes.fromhex("".join(values))
    return np.frombuffer(joined, dtype=np.uint8).reshape(len(values), BITS // 8).copy()


def bytes_to_hex(codes: npt.NDArray[np.uint8]) -> list[str]:
    raw = np.ascontiguousarray(codes, dtype=np.uint8).tobytes().hex()
    return [raw[i : i + HEX_CHARS] for i in range(0, len(raw), HEX_CHARS)]


class ImagePdqSignal(DistanceSignalType):
    name = "image_pdq"
    description = "PDQ perceptual hash of an image, 64 hex characters; Hamming distance <= threshold matches."
    examples = (
        "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    )
    default_threshold: ClassVar[float | None] = DEFAULT_THRESHOLD
    threshold_meaning = "largest Hamming distance (bits of 256) that still matches"

    def normalize(self, value: str) -> str:
        return normalize_hex(self.name, value, HEX_CHARS)

    def check_threshold(self, threshold: float | None) -> float | None:
        limit = super().check_threshold(threshold)
        if limit is None or limit != int(limit) or not 0 <= limit <= BITS:
            raise InputError(f"image_pdq threshold must be a whole number of bits 0-{BITS}, got {limit}")
        return int(limit)

    def distance(self, a: str, b: str) -> float:
        return (int(a, 16) ^ int(b, 16)).bit_count()

    def within(self, distance: float, threshold: float) -> bool:
        return distance <= threshold

    def hash_pixels(self, pixels: npt.NDArray[np.uint8]) -> PdqHash:
        return pdq_from_pixels(pixels)

    def hash_bytes(self, data: bytes) -> str:
        """PDQ of an encoded image file's bytes (needs Pillow, the ``images`` extra)."""
        return pdq_from_image_bytes(data).value

    def derive_from_post(self, post: Row) -> list[str]:
        found = []
        for value in post.get("image_pdq") or []:
            try:
                found.append(self.normalize(value))
            except InputError as exc:
                raise InputError(
                    f"post {post.get('platform')}:{post.get('post_id')} column 'image_pdq': {exc.message}"
                ) from exc
        return dedupe(found)

    def derive_columns(self, posts: pa.Table) -> pa.Array:
        """``derive_from_post`` of every post: hashes of 64 hex digits lower-cased by one kernel; a
        post with any other value goes row by row (and raises the same error naming the post)."""
        parents, values = flatten(column(posts, "image_pdq", pa.list_(pa.string())))
        plain = matches(values, r"^[0-9a-fA-F]{64}$")
        slow = np.zeros(posts.num_rows, dtype=bool)
        slow[parents[~plain]] = True
        keep = plain & ~slow[parents]
        lists = deduped_lists(posts.num_rows, parents[keep], pc.ascii_lower(values.filter(pa.array(keep))))
        return with_rows(posts, lists, slow, self.derive_from_post)


SIGNAL_TYPE = ImagePdqSignal()
