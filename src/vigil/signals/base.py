"""What a signal type is: one small interface, plus optional capabilities a type may also have.

A *signal* is a (type, value) pair a coalition member can share: an account, a canonical URL, a PDQ
hash... Every type answers the same questions: how its value is written (``normalize``), how two
values are compared (``compare`` with a ``default_threshold``) and how many values are searched at
once (``new_index``). What a type can be derived from is optional and expressed as capabilities
(``DerivesFromPost``, ``DerivesFromAccount``, ``HashesText``, ``HashesBytes``), checked with
``isinstance`` because not every type can be derived from everything (a DISARM technique id is
never found in a post).

Values are always ``str`` so that a signal can travel through the exchange, STIX and a database
column without a per-type codec.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from vigil.core.errors import InputError

if TYPE_CHECKING:
    import pyarrow as pa

    from vigil.signals.index import SignalIndex

# A row of the POSTS or ACCOUNTS table as ``pyarrow.Table.to_pylist()`` gives it.
Row = Mapping[str, Any]


@dataclass(frozen=True)
class Comparison:
    """The outcome of comparing two values of one type.

    ``distance`` is 0 for identical values and grows as values differ: Hamming bits for PDQ,
    1 - Jaccard for MinHash, 0 or 1 for exact types.
    """

    matched: bool
    distance: float

    @classmethod
    def exact(cls, same: bool) -> Comparison:
        return cls(same, 0.0 if same else 1.0)


class SignalType(ABC):
    """One kind of signal. Subclasses set the class attributes and implement ``normalize``.

    ``name`` is the stable storage key (also ``vigil.exchange.records.SignalKind``'s value): never
    rename it without a migration. ``examples`` are valid, already normalized values used by the
    shared test suite and by demos.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    examples: ClassVar[tuple[str, ...]]
    # None for types compared by equality; otherwise the default of ``compare``'s ``threshold``.
    default_threshold: ClassVar[float | None] = None
    # What ``threshold`` means, for docs and error messages.
    threshold_meaning: ClassVar[str] = "exact match only"

    @abstractmethod
    def normalize(self, value: str) -> str:
        """The canonical form of ``value``; raise InputError saying what was expected if malformed.

        Must be idempotent: ``normalize(normalize(v)) == normalize(v)``.
        """

    def key(self, value: str) -> str:
        """What two normalized values must share to be the same signal (exact types index this)."""
        return value

    def compare(self, a: str, b: str, threshold: float | None = None) -> Comparison:
        """Compare two values (normalized first). Exact types match on equal keys, take no threshold."""
        if threshold is not None:
            raise InputError(f"{self.name} signals match exactly and take no threshold, got {threshold}")
        return Comparison.exact(self.key(self.normalize(a)) == self.key(self.normalize(b)))

    def check_threshold(self, threshold: float | None) -> float | None:
        """The threshold to use: the default when None; InputError if this type takes none or it is bad."""
        if threshold is None:
            return self.default_threshold
        if self.default_threshold is None:
            raise InputError(f"{self.name} signals match exactly and take no threshold, got {threshold}")
        return threshold

    def new_index(self, threshold: float | None = None) -> SignalIndex:
        """An empty index of this type. The default is an exact hash map on ``key``.

        Distance types override this with a brute-force index so they work before anyone makes them
        fast; ``vigil.match.index.new_index`` picks the fast implementation where there is one.
        """
        from vigil.signals.index import ExactIndex

        self.check_threshold(threshold)
        return ExactIndex(self)

    def normalize_many(self, values: Sequence[str]) -> list[str]:
        return [self.normalize(v) for v in values]

    def __repr__(self) -> str:
        return f"<SignalType {self.name}>"


class DistanceSignalType(SignalType):
    """A type whose values match when within a distance threshold (PDQ, MinHash)."""

    default_threshold: ClassVar[float | None]

    @abstractmethod
    def distance(self, a: str, b: str) -> float:
        """Distance between two normalized values."""

    @abstractmethod
    def within(self, distance: float, threshold: float) -> bool:
        """Whether ``distance`` counts as a match at ``threshold``."""

    def compare(self, a: str, b: str, threshold: float | None = None) -> Comparison:
        limit = self.check_threshold(threshold)
        assert limit is not None
        d = self.distance(self.normalize(a), self.normalize(b))
        return Comparison(self.within(d, limit), d)

    def new_index(self, threshold: float | None = None) -> SignalIndex:
        from vigil.signals.index import LinearIndex

        return LinearIndex(self, self.check_threshold(threshold))


@runtime_checkable
class DerivesFromPost(Protocol):
    """Capability: the type's values can be read off a row of the POSTS table."""

    def derive_from_post(self, post: Row) -> list[str]:
        """Zero or more normalized values found in ``post`` (no duplicates, in order of appearance)."""
        ...


@runtime_checkable
class DerivesFromAccount(Protocol):
    """Capability: the type's values can be read off a row of the ACCOUNTS table."""

    def derive_from_account(self, account: Row) -> list[str]: ...


@runtime_checkable
class DerivesFromTexts(Protocol):
    """Capability: the values a post yields come from its text alone, and many texts can be done at
    once (vectorized normalization); ``derive_from_texts(texts)[i]`` equals ``derive_from_post`` of a
    post with text ``texts[i]``."""

    def derive_from_texts(self, texts: Sequence[str | None]) -> list[list[str]]: ...


@runtime_checkable
class DerivesFromColumns(Protocol):
    """Capability: the values of many posts at once, from Arrow columns with no Python call per post
    (``vigil.signals.columns``). ``derive_columns(posts)`` is a ``list<string>`` array whose row ``i``
    equals ``derive_from_post`` of row ``i`` (the same values in the same order, the same errors);
    a column the table lacks counts as null in every row."""

    def derive_columns(self, posts: pa.Table) -> pa.Array: ...


@runtime_checkable
class HashesText(Protocol):
    """Capability: turns raw text into a value (text_exact, text_minhash)."""

    def hash_text(self, text: str) -> str: ...


@runtime_checkable
class HashesBytes(Protocol):
    """Capability: turns raw bytes (a media file) into a value (image_md5)."""

    def hash_bytes(self, data: bytes) -> str: ...


_HEX = re.compile(r"[0-9a-f]*")


def normalize_hex(type_name: str, value: str, length: int, what: str = "") -> str:
    """Lower-case ``value`` and check it is ``length`` hex characters; shared by the hash types."""
    if not isinstance(value, str):
        raise InputError(f"{type_name} value must be a string, got {type(value).__name__}")
    text = value.strip().lower()
    if len(text) != length:
        raise InputError(
            f"{type_name} value must be {length} hex characters{what}, got {len(text)}", value=value[:100]
        )
    if not _HEX.fullmatch(text):
        bad = next(ch for ch in text if ch not in "0123456789abcdef")
        raise InputError(
            f"{type_name} value must be {length} hex characters{what}, got non-hex character {bad!r}",
            value=value[:100],
        )
    return text


def dedupe(values: Sequence[str]) -> list[str]:
    """Drop repeats, keeping first appearances in order."""
    return list(dict.fromkeys(values))
