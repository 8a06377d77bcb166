"""Column-at-a-time mapping of text columns: the fast path of the ``generic`` and ``twitter-io`` layouts.

Adapters used to map a batch row by row in Python (about 15k rows/s). Here each output column is
computed for the whole batch with Arrow compute, and where a value needs Vigil's Python rules
(timestamps, languages, lists, hashtags, URL canonicalization) the rule runs once per *distinct*
value of the batch and the results are spread back with one ``take``: sources repeat platforms,
accounts, times rounded to the minute, retweeted texts and links a great deal.

The rules are the very functions of the row path (``vigil.ingest.values``, ``entities``,
``urls``), so both paths give identical tables (tests/ingest/test_columnar.py compares them).
Anything this path does not handle raises :class:`NotColumnar` or lets a ``BadValue`` through;
the adapter then maps that batch with its row path, which also produces the exact DataError (file,
row, column) for bad input.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from vigil.ingest.entities import MARKS, WORD, extract_hashtags, extract_mentions, extract_urls
from vigil.ingest.unichars import CharCheck, re2_class
from vigil.ingest.urls import SHORTENERS, _canonical_host, canonicalize, registrable_domain
from vigil.ingest.values import TimeFormat, normalize_lang, parse_id, parse_time, to_micros
from vigil.schema.tables import TIMESTAMP, URL_STRUCT

URL_LIST = pa.list_(URL_STRUCT)
STRING_LIST = pa.list_(pa.string())
EXTRA = pa.map_(pa.string(), pa.string())
_TEXT_TYPES = (pa.string(), pa.large_string(), pa.null())

# Characters Python's str.isspace() accepts (bidi WS, B, S and category Zs), as an RE2 class: a
# value made only of them is blank. A superset is fine (candidates are checked in Python).
_SPACE_CLASS = r"[\t\n\x0b\f\r \x1c-\x1f\x85\xa0\p{Z}]"
# Printable ASCII but space: a value starting and ending with one is already stripped.
_TRIMMED = r"^[\x21-\x7e](?:.*[\x21-\x7e])?$"


class NotColumnar(Exception):
    """The batch has something this path does not handle; map it row by row instead."""


class Memo:
    """``fn`` with its results kept across batches (links, accounts and times recur file-wide).

    Holds at most ``limit`` results, forgetting them all when full: memory stays bounded, and a
    forgotten value is only computed again.
    """

    def __init__(self, fn: Callable[[str], Any], limit: int = 1 << 17) -> None:
        self.fn = fn
        self.limit = limit
        self.results: dict[str, Any] = {}

    def __call__(self, value: str) -> Any:
        results = self.results
        found = results.get(value, _MISSING)
        if found is _MISSING:
            if len(results) >= self.limit:
                results.clear()
            found = results[value] = self.fn(value)
        return found


_MISSING = object()


class BatchMemo(Memo):
    """A Memo of a rule computed for many values in one call (``fn_many``: values -> results)."""

    def __init__(self, fn_many: Callable[[list[str]], list[Any]], limit: int = 1 << 17) -> None:
        super().__init__(lambda value: fn_many([value])[0], limit)
        self.fn_many = fn_many

    def many(self, values: list[str | None]) -> list[Any]:
        results = self.results
        missing = list({v for v in values if v is not None and v not in results})
        if missing and len(results) + len(missing) > self.limit:
            results.clear()  # full: start again, with every value of this call to compute
            missing = list({v for v in values if v is not None})
        if missing:
            results.update(zip(missing, self.fn_many(missing), strict=True))
        return [None if v is None else results[v] for v in values]


class ArrayMemo:
    """An array function (``compute``: strings -> results, row for row) with its results kept as
    Arrow arrays across batches: known values are found by one vectorised ``index_in`` and taken,
    only new ones are computed, in one call. Bounded like ``Memo``."""

    def __init__(
        self, compute: Callable[[pa.Array], pa.Array], out_type: pa.DataType, limit: int = 1 << 17
    ) -> None:
        self.compute = compute
        self.out_type = out_type
        self.limit = limit
        # (keys, values) as one attribute, read once and put back whole by each call: the two never
        # disagree, even if a memo were shared by threads (ingest's map threads each have their
        # own adapter, hence their own memos).
        self.known: tuple[pa.Array, pa.Array] = (pa.array([], pa.string()), pa.array([], out_type))

    def _compute(self, new: pa.Array) -> pa.Array:
        return self.compute(new).cast(self.out_type)

    def apply(self, distinct: pa.Array) -> pa.Array:
        """Results of ``distinct`` (non-null values, no repeats), in order."""
        keys, values = self.known
        found = pc.index_in(distinct, value_set=keys)
        missing = np.asarray(pc.is_null(found).to_numpy(zero_copy_only=False), dtype=bool)
        if not missing.any():
            return pc.take(values, found)
        if len(keys) + int(missing.sum()) > self.limit:  # full: start again with these values
            keys, values = pa.array([], pa.string()), pa.array([], self.out_type)
            found = pa.nulls(len(distinct), pa.int32())
            missing[:] = True
        new = pc.filter(distinct, pa.array(missing))
        results = self._compute(new)
        positions = np.asarray(pc.fill_null(found, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
        positions[missing] = len(keys) + np.arange(len(new))
        keys = pa.concat_arrays([keys, new.cast(pa.string())])
        values = pa.concat_arrays([values, results])
        self.known = (keys, values)
        return pc.take(values, pa.array(positions))


class ArrowMemo(ArrayMemo):
    """``fn`` of values with its results kept as Arrow arrays across batches (``ArrayMemo``), new
    values through Python (no per-value dict lookup, no rebuilding of Arrow values from Python
    objects for known ones)."""

    def __init__(self, fn: Callable[[str], Any], out_type: pa.DataType, limit: int = 1 << 17) -> None:
        super().__init__(self._compute, out_type, limit)
        self.fn = fn

    def __call__(self, value: str) -> Any:
        return self.fn(value)  # one value, not remembered (distinct_apply uses ``apply``)

    def _compute(self, new: pa.Array) -> pa.Array:
        return pa.array([self.fn(value) for value in new.to_pylist()], self.out_type)


def is_text_column(column: pa.ChunkedArray | pa.Array) -> bool:
    return column.type in _TEXT_TYPES


def text_column(table: pa.Table, name: str) -> pa.Array:
    """Column ``name`` of ``table`` as one string array (all null when the table lacks it)."""
    if name not in table.column_names:
        return pa.nulls(table.num_rows, pa.string())
    column = table.column(name)
    if not is_text_column(column):
        raise NotColumnar(f"column {name!r} is {column.type}, not text")
    # Batches come combined (readers._arrow_batch): their one chunk as it is, not a copy of it.
    if isinstance(column, pa.ChunkedArray):
        array = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    else:
        array = column
    return array.cast(pa.string())


def distinct_apply(values: pa.Array, fn: Callable[[str], Any], out_type: pa.DataType) -> pa.Array:
    """``fn`` of every non-null value, computed once per distinct value; null stays null."""
    if len(values) == 0:
        return pa.array([], out_type)
    encoded = pc.dictionary_encode(values)
    if isinstance(fn, ArrowMemo):
        return pc.take(fn.apply(encoded.dictionary).cast(out_type), encoded.indices)
    distinct = encoded.dictionary.to_pylist()
    results = fn.many(distinct) if isinstance(fn, BatchMemo) else [fn(value) for value in distinct]
    mapped = pa.array(results, out_type)
    return pc.take(mapped, encoded.indices)


def per_distinct(
    values: pa.Array, compute: Callable[[pa.Array], pa.Array], null_value: Any = None
) -> pa.Array:
    """``compute`` (an array function, row for row) of the distinct values only, spread back with one
    take, when values repeat (at least two rows per distinct value); a null row gets ``null_value``."""
    encoded = pc.dictionary_encode(values)
    distinct = encoded.dictionary
    if len(distinct) * 2 > len(values):
        return compute(values)
    mapped = compute(distinct)
    indices = encoded.indices
    if indices.null_count:
        mapped = pa.concat_arrays([mapped, pa.array([null_value], mapped.type)])
        indices = pc.fill_null(indices, len(distinct))
    return pc.take(mapped, indices)


def check_each(values: pa.Array, rule: Callable[[str], Any], fine: str | None = None) -> None:
    """Apply ``rule`` to every distinct non-null value for its errors (BadValue), not its results;
    values matching the regex ``fine`` (ones ``rule`` is known to accept) are not checked."""
    distinct = pc.unique(values.drop_null())
    if fine is not None:
        distinct = pc.filter(distinct, pc.invert(pc.match_substring_regex(distinct, fine)))
    for value in distinct.to_pylist():
        rule(value)


# Counts parse_int accepts without a doubt: plain digits (float() reads them exactly below 2**53).
PLAIN_COUNT = r"^[0-9]{1,15}$"


def _edge_bytes(values: pa.Array) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]] | None:
    """Each string's first and last byte (0 for an empty or null string), read from Arrow's buffers;
    None for arrays of another layout than ``pa.string()``."""
    if values.type != pa.string():
        return None
    buffers = values.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int32)[values.offset : values.offset + len(values) + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    filled = offsets[1:] > offsets[:-1]
    first = np.zeros(len(values), dtype=np.uint8)
    last = np.zeros(len(values), dtype=np.uint8)
    first[filled] = data[offsets[:-1][filled]]
    last[filled] = data[offsets[1:][filled] - 1]
    return first, last


def holding(values: pa.Array, text: str, ignore_case: bool = False) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Per string of ``values``: does it hold ``text`` (``match_substring``)? One byte search of Arrow's
    data buffer for the whole array, not a search per string (four ``match_substring`` passes, for
    the two sigils and their full-width forms, took ~0.23 of 1.1 CPU-s of the entities of 1M
    generic rows; with ``ignore_case``, which runs RE2, ``www.`` in texts 0.3 CPU-s). In valid
    UTF-8 a whole character's bytes never straddle two strings. ``ignore_case`` only for ASCII
    ``text``: an ASCII letter then matches its two cases (RE2's case folding adds no other
    character for ``w``; tests/ingest/test_columnar_entities.py checks every code point)."""
    if values.type != pa.string() or (ignore_case and not text.isascii()):
        return _bools(pc.match_substring(values, text, ignore_case=ignore_case))
    needle = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    # With ignore_case, a letter's byte is compared with its lower case after setting bit 0x20,
    # which maps exactly its upper and lower case (and no other byte) onto the lower one.
    fold = np.array([ignore_case and chr(b).isalpha() for b in needle.tolist()], dtype=bool)
    wanted = np.where(fold, needle | 0x20, needle).astype(np.uint8)
    start = values.offset
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[start : start + len(values) + 1]
    found = np.zeros(len(values), dtype=bool)
    if len(values) == 0 or offsets[-1] == offsets[0]:
        return found
    data = np.frombuffer(values.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    at = np.flatnonzero((data | 0x20 if fold[0] else data) == wanted[0])
    for k in range(1, len(needle)):
        at = at[at + k < len(data)]
        following = data[at + k]
        at = at[(following | 0x20 if fold[k] else following) == wanted[k]]
    found[np.searchsorted(offsets, at + offsets[0], side="right") - 1] = True
    if values.null_count:  # a null's slot holds no bytes, but keep the rule explicit
        found &= _bools(pc.is_valid(values))
    return found


_SPACE_LEADS = np.array([0xC2, 0xE1, 0xE2, 0xE3], dtype=np.uint8)


def _printable(byte: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Printable ASCII but space: a character no strip() removes (never a byte of a longer one)."""
    return np.asarray((byte >= 0x21) & (byte <= 0x7E), dtype=bool)


def blank_to_null(values: pa.Array) -> pa.Array:
    """``as_text`` of string cells: empty or whitespace-only strings become null, others stay as they are."""
    edges = _edge_bytes(values)
    if edges is not None:
        # Only a cell starting with a control or space byte, or with the first byte of a non-ASCII
        # space (U+0085 and U+00A0: C2; U+1680: E1; U+2000-U+205F: E2; U+3000: E3), can be blank.
        maybe = (edges[0] < 0x21) | np.isin(edges[0], _SPACE_LEADS)
        if not maybe.any():
            return values
        candidates = np.zeros(len(values), dtype=bool)
        some = pc.filter(values, pa.array(maybe))
        candidates[maybe] = _bools(pc.match_substring_regex(some, f"^{_SPACE_CLASS}*$"))
        if not candidates.any():
            return values
        chosen = pa.array(candidates)
    else:
        chosen = pc.fill_null(pc.match_substring_regex(values, f"^{_SPACE_CLASS}*$"), False)
        if not pc.any(chosen).as_py():
            return values
    blank = distinct_apply(pc.if_else(chosen, values, None), lambda v: not v or v.isspace(), pa.bool_())
    return pc.if_else(pc.fill_null(blank, False), pa.scalar(None, pa.string()), values)


def ids(values: pa.Array) -> pa.Array:
    """``parse_id`` of string cells: stripped, an empty id null."""
    edges = _edge_bytes(values)
    if edges is not None:  # stripped already: starts and ends with a printable ASCII character
        trimmed_np = (_printable(edges[0]) & _printable(edges[1])) | ~_bools(pc.is_valid(values))
        if trimmed_np.all():
            return values
        trimmed = pa.array(trimmed_np)
    else:
        trimmed = pc.fill_null(pc.match_substring_regex(values, _TRIMMED), True)
        if pc.all(trimmed).as_py():
            return values
    other = distinct_apply(pc.if_else(trimmed, None, values), parse_id, pa.string())
    return pc.if_else(trimmed, values, other)


def lists(
    values: pa.Array,
    fn: Callable[[str], list[Any]],
    out_type: pa.DataType,
    item: str | None = None,
    more: str | None = None,
    lower: bool = False,
) -> pa.Array:
    """A list per cell: ``fn`` of present cells (computed per distinct value), an empty list for null.

    With ``item`` (a regex), cells written ``[]``, ``[x]`` or ``[x, y, ...]`` (``x`` matching
    ``item``, the others ``more``, default ``item``) are split without Python; ``lower`` then
    lower-cases the items and drops repeats in a list. Pass these only where ``fn`` gives exactly
    that for such cells.
    """
    empty = pa.scalar([], out_type)
    if item is None:
        return pc.if_else(pc.is_null(values), empty, distinct_apply(values, fn, out_type))
    return per_distinct(values, lambda cells: _lists(cells, fn, out_type, item, more, lower), [])


def _lists(
    values: pa.Array,
    fn: Callable[[str], list[Any]],
    out_type: pa.DataType,
    item: str | None,
    more: str | None,
    lower: bool,
) -> pa.Array:
    empty = pa.scalar([], out_type)
    if item is None:
        return pc.if_else(pc.is_null(values), empty, distinct_apply(values, fn, out_type))
    # A match, then the cell without its brackets: RE2 with a capture of a repeated group runs its
    # slow engines over every cell (0.83 against 0.07 CPU-s on the IRA archive's link cells).
    pattern = rf"^\[(?:{item}(?:, {more or item})*)?\]$"
    written = pc.fill_null(pc.match_substring_regex(values, pattern), False)
    inner = pc.if_else(written, pc.utf8_slice_codeunits(values, 1, -1), pa.scalar(None, pa.string()))
    # A bare cell of one item ("https://x.org/a": how the toolkit's layout gives one link) is that item.
    bare = pa.array(np.zeros(len(values), dtype=bool))
    if not pc.all(written).as_py():
        bare = pc.fill_null(pc.match_substring_regex(values, rf"^{item}$"), False)
        inner = pc.if_else(bare, values, inner)
    split = pc.split_pattern(inner, ", ")
    # json.loads reads a list of JSON words ("[true]", "[null, NaN]") as values, not strings.
    scalar = pc.fill_null(pc.greater(pc.list_value_length(_flat_mask(split, JSON_WORDS)), 0), False)
    quick = pc.and_(pc.or_(written, bare), pc.invert(scalar))
    if not pc.any(quick).as_py():
        return pc.if_else(pc.is_null(values), empty, distinct_apply(values, fn, out_type))
    read = pc.if_else(pc.fill_null(pc.equal(inner, ""), True), empty, split.cast(out_type))
    if lower:
        read = dedupe_lists(_lower_lists(read))
    if pc.all(quick).as_py():
        return pc.if_else(pc.is_null(values), empty, read)
    mapped = distinct_apply(pc.if_else(quick, None, values), fn, out_type)
    return pc.if_else(pc.is_null(values), empty, pc.if_else(quick, read, mapped))


def _flat_mask(lists_array: pa.Array, words: Sequence[str]) -> pa.Array:
    """Per list, the items that are one of ``words`` (a list array of them)."""
    return _filter_lists(lists_array, pc.is_in(pc.list_flatten(lists_array), pa.array(list(words))))


def _offsets(lists_array: pa.Array) -> pa.Array:
    lengths = np.asarray(pc.fill_null(pc.list_value_length(lists_array), 0).to_numpy(zero_copy_only=False))
    offsets = np.zeros(len(lists_array) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.array(offsets)


def _filter_lists(lists_array: pa.Array, keep: pa.Array) -> pa.Array:
    """``lists_array`` with only the flattened items where ``keep`` is true (nulls stay null)."""
    flat = pc.list_flatten(lists_array)
    keep_np = np.asarray(pc.fill_null(keep, False).to_numpy(zero_copy_only=False), dtype=bool)
    rows = np.asarray(pc.list_parent_indices(lists_array).to_numpy(zero_copy_only=False))[keep_np]
    counts = np.bincount(rows, minlength=len(lists_array)) if len(rows) else np.zeros(len(lists_array), int)
    offsets = np.zeros(len(lists_array) + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    return pa.ListArray.from_arrays(
        pa.array(offsets), pc.filter(flat, pa.array(keep_np)), mask=pc.is_null(lists_array)
    )


def _lower_lists(lists_array: pa.Array, limit: int | None = None) -> pa.Array:
    """Each item lower-cased (and cut to its first ``limit`` characters)."""
    flat = pc.list_flatten(lists_array)
    if limit is not None:
        flat = pc.utf8_slice_codeunits(flat, 0, limit)  # code points, as Python counts them
    flat = pc.utf8_lower(flat)
    return pa.ListArray.from_arrays(_offsets(lists_array), flat, mask=pc.is_null(lists_array))


def dedupe_lists(lists_array: pa.Array, key: pa.Array | None = None) -> pa.Array:
    """Each list without its repeated items (by ``key``, one per flattened item: default the item),
    the first of each kept, in order."""
    flat = pc.list_flatten(lists_array)
    if len(flat) == 0:
        return lists_array
    lengths = np.asarray(pc.fill_null(pc.list_value_length(lists_array), 0).to_numpy(zero_copy_only=False))
    # Only lists of two or more items can repeat one (most hold none or one): those items alone are
    # keyed, and a (list, key) pair seen before is dropped (np.unique's first index is the first one).
    rows = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    several = np.flatnonzero(lengths[rows] > 1)
    if len(several) == 0:
        return lists_array
    keys = flat if key is None else key
    codes = pc.dictionary_encode(pc.take(keys, pa.array(several))).indices
    codes_np = np.asarray(pc.fill_null(codes, -1).to_numpy(zero_copy_only=False), dtype=np.int64) + 1
    pairs = rows[several] * (int(codes_np.max()) + 1) + codes_np
    _, first = np.unique(pairs, return_index=True)
    if len(first) == len(several):
        return lists_array
    keep = np.ones(len(flat), dtype=bool)
    keep[several] = False
    keep[several[first]] = True
    return _filter_lists(lists_array, pa.array(keep))


# A list item parse_list leaves as it is: no separator, quote, bracket or space, not a JSON scalar.
# Python's whitespace (str.split, str.strip), not RE2's ASCII \s: "[x\u00a0]" reads as ["x"].
_NOT_SPACE_OR_SEPARATOR = r"""[^\t\n\x0b\f\r \x1c-\x1f\x85\xa0\p{Z},;|'"\[\]]"""
LIST_ITEM = rf"(?:[A-Za-z]{_NOT_SPACE_OR_SEPARATOR}*)"
# An item after ", " that _URL_SPLIT splits before: one starting a URL.
# A hashtag or handle in a list cell that lower-casing is all that _sigil_free / _unique change.
WORD_ITEM = r"(?:[A-Za-z][A-Za-z0-9_]*)"
URL_ITEM = rf"(?:(?:[a-zA-Z][a-zA-Z0-9+.-]*://|www\.){_NOT_SPACE_OR_SEPARATOR}*)"
JSON_WORDS = ("true", "false", "null", "NaN", "Infinity")


def from_text(
    texts: pa.Array, sigils: Sequence[str], fn: Callable[[str], list[Any]], out_type: pa.DataType
) -> pa.Array:
    """``fn`` of the texts that contain one of ``sigils`` (per distinct text); an empty list otherwise."""
    has = pc.is_valid(texts)
    found = pa.array(np.zeros(len(texts), dtype=bool))
    for sigil in sigils:
        found = pc.or_(found, pa.array(holding(texts, sigil, ignore_case=True)))
    chosen = pc.and_(has, found)
    if not pc.any(chosen).as_py():
        return pa.array([[]] * len(texts), out_type)
    mapped = distinct_apply(pc.if_else(chosen, texts, None), fn, out_type)
    return pc.if_else(chosen, mapped, pa.scalar([], out_type))


# entities.HASHTAG_RE and MENTION_RE without a regex over whole texts: a text is split at its
# sigils, and each piece after one starts with the item's run of word characters (RE2, anchored),
# kept when the character before the sigil (the last of the piece before it) does not glue it:
# a word character or '&' for hashtags; a word character, '@' or '.' for mentions (so an empty piece
# between two '@' glues, between two '#' it does not). Hashtags need a letter; mentions are cut to
# Python's 64 characters (what follows the 64th is word characters: the search resumes past the
# run either way). Texts with the full-width sigil (rare) keep the Python rules.
_MARKS_RE2 = re2_class(MARKS)
_HASHTAG_WORD_RE2 = f"[\\p{{L}}\\p{{N}}_{_MARKS_RE2}]"
_MENTION_WORD_RE2 = r"[\p{L}\p{N}_]"
_WORD_RE = re.compile(WORD)
_WORD_CHAR = re.compile(r"\w")
_CHAR_TESTS: list[tuple[Callable[[str], bool], str]] = [
    (lambda ch: _WORD_RE.fullmatch(ch) is not None, _HASHTAG_WORD_RE2),
    (lambda ch: _WORD_CHAR.fullmatch(ch) is not None, _MENTION_WORD_RE2),
    (str.isalpha, r"\p{L}"),
]


@dataclass(frozen=True)
class _Kind:
    """One kind of entity read from texts: its two sigils (ASCII and full-width), its Python rule,
    the RE2 classes of its word and of a character that glues a sigil to what precedes it, whether
    the sigil itself glues the next one, the class an item must hold and the length items are cut to."""

    sigils: tuple[str, str]
    rule: ArrowMemo
    word: str
    glued: str
    sigil_glues: bool
    needs: str | None
    limit: int | None


def _bools(array: pa.Array | pa.ChunkedArray) -> np.ndarray[Any, np.dtype[np.bool_]]:
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def split_items(values: pa.Array, kind: _Kind) -> pa.Array:
    """The items of ``kind`` in each of ``values`` (non-null texts without the full-width sigil,
    every character checked by ``unichars``), as written, one list per value."""
    sigil = kind.sigils[0]
    pieces = pc.split_pattern(values, sigil)
    flat = pc.list_flatten(pieces)
    lengths = np.asarray(pc.list_value_length(pieces).to_numpy(zero_copy_only=False), dtype=np.int64)
    starts = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    first = np.zeros(len(flat), dtype=bool)  # a text's first piece: no sigil before it
    first[starts[:-1][lengths > 0]] = True
    after = np.flatnonzero(~first)  # pieces that follow a sigil
    run = pc.struct_field(pc.extract_regex(pc.take(flat, pa.array(after)), f"^(?P<w>{kind.word}+)"), "w")
    before = pc.take(flat, pa.array(after - 1))
    ok = _bools(pc.is_valid(run))
    stuck = _bools(pc.match_substring_regex(pc.utf8_slice_codeunits(before, -1), f"^{kind.glued}$"))
    if kind.sigil_glues:  # an empty piece after a sigil: that sigil is the character before
        stuck |= _bools(pc.equal(pc.binary_length(before), 0)) & ~first[after - 1]
    ok &= ~stuck
    if kind.needs is not None:
        ok &= _bools(pc.match_substring_regex(run, kind.needs))
    items = pc.filter(run, pa.array(ok))
    if kind.limit is not None:
        items = pc.utf8_slice_codeunits(items, 0, kind.limit)  # code points, as Python counts them
    rows = np.searchsorted(starts, after[ok], side="right") - 1
    offsets = np.zeros(len(values) + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=len(values)), out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), items.cast(pa.string()))


_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _possible_times(spaced: pa.Array) -> bool:
    """Whether every ``YYYY-MM-DD HH:MM:SS`` of ``spaced`` (ASCII digits where the form has them) is a
    time ``datetime`` accepts: year 1 or later, month, day (leap years too), hour, minute and second
    in range. Read from the digits' bytes with NumPy: formatting the parsed times back (strftime)
    to compare took ~0.47 CPU-s per 200k distinct times (the IRA archive's)."""
    spaced = spaced.cast(pa.string())
    if len(spaced) == 0:
        return True
    start, n = spaced.offset, len(spaced)
    offsets = np.frombuffer(spaced.buffers()[1], dtype=np.int32)[start : start + n + 1]
    if not np.all(np.diff(offsets) == 19):
        return False
    data = np.frombuffer(spaced.buffers()[2], dtype=np.uint8)
    digits = data[offsets[0] : offsets[0] + 19 * n].reshape(-1, 19).astype(np.int64) - 48

    def field(start: int, width: int) -> np.ndarray[Any, np.dtype[np.int64]]:
        value = np.zeros(len(digits), dtype=np.int64)
        for column in range(start, start + width):
            value = value * 10 + digits[:, column]
        return value

    year, month, day = field(0, 4), field(5, 2), field(8, 2)
    month_ok = (month >= 1) & (month <= 12)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    days = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] + ((month == 2) & leap)
    return bool(
        np.all(
            (year >= 1) & month_ok & (day >= 1) & (day <= days)
            & (field(11, 2) <= 23) & (field(14, 2) <= 59) & (field(17, 2) <= 59)
        )
    )  # fmt: skip


class TextRules:
    """The rules a layout applies to times, languages and post texts, each remembered (``Memo``)."""

    def __init__(self) -> None:
        self._times: dict[str, Memo] = {}
        self._languages = ArrowMemo(normalize_lang, pa.string())
        self._hashtags = ArrowMemo(extract_hashtags, STRING_LIST)
        self._mentions = ArrowMemo(extract_mentions, STRING_LIST)
        self._urls = ArrowMemo(extract_urls, STRING_LIST)
        self._con: Any = None
        self._checked: CharCheck | None = None

    def times(self, values: pa.Array, fmt: TimeFormat) -> pa.Array:
        """``parse_time`` of string cells as TIMESTAMP; a missing value raises NotColumnar."""
        if values.null_count:
            raise NotColumnar("a missing time")
        # Archives round to the minute and many posts share one: parse each distinct value once.
        encoded = pc.dictionary_encode(values)
        if len(encoded.dictionary) * 2 < len(values):
            return pc.take(self._distinct_times(encoded.dictionary, fmt), encoded.indices)
        return self._distinct_times(values, fmt)

    def _distinct_times(self, values: pa.Array, fmt: TimeFormat) -> pa.Array:
        if fmt.spec in ("auto", "unix"):
            # Whole POSIX seconds (the toolkit's layout), also written with a zero fraction
            # ("1700000000.0", as Python writes floats): exactly float(text) seconds. Other
            # fractions keep the Python rule (timedelta's rounding to microseconds).
            whole = pc.match_substring_regex(values, r"^[0-9]{1,11}(?:\.0+)?$")
            if pc.all(whole).as_py():
                seconds = pc.replace_substring_regex(values, r"\.0+$", "")
                return pc.multiply(pc.cast(seconds, pa.int64()), 1_000_000).cast(TIMESTAMP)
        if fmt.spec in ("auto", "iso"):
            # "2017-01-01 12:34[:56]" (archives round to the minute): what fromisoformat reads, as UTC.
            pattern = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(?::[0-9]{2})?$"
            if pc.all(pc.match_substring_regex(values, pattern)).as_py():
                seconds = pc.if_else(pc.equal(pc.utf8_length(values), 16), pc.binary_join_element_wise(
                    values, ":00", ""), values)  # fmt: skip
                spaced = pc.replace_substring(seconds, "T", " ")
                try:
                    parsed = pc.strptime(spaced, format="%Y-%m-%d %H:%M:%S", unit="us")
                except pa.ArrowInvalid:
                    parsed = None  # an impossible date: Python says which
                # Arrow rolls impossible dates over (Feb 30 -> Mar 2, :60 -> next minute); Python
                # refuses them: only a batch whose every field is in range is taken.
                if parsed is not None and _possible_times(spaced):
                    return pc.assume_timezone(parsed, "UTC").cast(TIMESTAMP)
        rule = self._times.get(fmt.spec)
        if rule is None:
            rule = self._times[fmt.spec] = Memo(lambda text: to_micros(parse_time(text, fmt)))
        return distinct_apply(values, rule, pa.int64()).cast(TIMESTAMP)

    def languages(self, values: pa.Array) -> pa.Array:
        """``normalize_lang`` of string cells."""
        return distinct_apply(values, self._languages, pa.string())

    def hashtags(self, texts: pa.Array) -> pa.Array:
        """``extract_hashtags`` of each text (an empty list for null)."""
        return self._entities(texts, [self._hashtag_kind()])[0]

    def mentions(self, texts: pa.Array) -> pa.Array:
        """``extract_mentions`` of each text (an empty list for null)."""
        return self._entities(texts, [self._mention_kind()])[0]

    def hashtags_and_mentions(self, texts: pa.Array) -> tuple[pa.Array, pa.Array]:
        """``hashtags`` and ``mentions`` of the same texts in one pass: the texts are encoded,
        checked (``unichars``) and handed to DuckDB once for both."""
        hashtags, mentions = self._entities(texts, [self._hashtag_kind(), self._mention_kind()])
        return hashtags, mentions

    def _hashtag_kind(self) -> _Kind:
        glued = f"[\\p{{L}}\\p{{N}}_&{_MARKS_RE2}]"
        # A hashtag holds a letter (entities: not all digits, some isalpha).
        return _Kind(("#", "＃"), self._hashtags, _HASHTAG_WORD_RE2, glued, False, r"\p{L}", None)

    def _mention_kind(self) -> _Kind:
        glued = r"[\p{L}\p{N}_@.]"
        return _Kind(("@", "＠"), self._mentions, _MENTION_WORD_RE2, glued, True, None, 64)

    def _entities(self, texts: pa.Array, kinds: list[_Kind]) -> list[pa.Array]:
        """Hashtags or mentions (``kinds``) of each text: ``split_items``, lower-cased by Arrow,
        without repeats, for texts whose every character the kernels treat as Python does
        (vigil.ingest.unichars); the kind's ``rule`` per distinct text for the others."""
        if len(texts) == 0:
            return [pa.array([], STRING_LIST) for _ in kinds]
        # Once per distinct text (retweets and templates repeat), and only texts with a sigil can
        # hold an item (most have none): those alone are checked and read, and the lists spread
        # back with one take; the other rows (null texts too) take the empty list appended last.
        encoded = pc.dictionary_encode(texts)
        distinct = encoded.dictionary
        has, wide_sigil = [], []  # per kind: which distinct texts hold one of its sigils, the full-width one
        for kind in kinds:
            wide_sigil.append(holding(distinct, kind.sigils[1]))
            has.append(holding(distinct, kind.sigils[0]) | wide_sigil[-1])
        chosen = np.logical_or.reduce(has)
        values = pc.filter(distinct, pa.array(chosen))
        # Row -> distinct value with a sigil (its place among them), or none (len(values)).
        place = np.full(len(distinct) + 1, len(values), dtype=np.int64)
        place[np.flatnonzero(chosen)] = np.arange(len(values), dtype=np.int64)
        codes = pc.fill_null(encoded.indices, len(distinct)).to_numpy(zero_copy_only=False)
        rows = place[codes]
        empty = pa.array([[]], STRING_LIST)
        if len(values) == 0:
            return [pc.take(empty, pa.array(rows)) for _ in kinds]
        unsafe = self._chars().scan(values)[0]
        results = []
        for k, kind in enumerate(kinds):
            mine = has[k][chosen]
            quick = mine & ~unsafe & ~wide_sigil[k][chosen]
            slow = mine & ~quick
            # Lists of the quick values, then of the slow ones, then the empty list: value -> its list.
            parts = [dedupe_lists(_lower_lists(split_items(pc.filter(values, pa.array(quick)), kind)))]
            if slow.any():
                slow_values = pc.filter(values, pa.array(slow))
                parts.append(distinct_apply(slow_values, kind.rule, STRING_LIST))
            parts.append(empty)
            at = np.full(len(values) + 1, int(quick.sum()) + int(slow.sum()), dtype=np.int64)
            at[np.flatnonzero(quick)] = np.arange(int(quick.sum()))
            at[np.flatnonzero(slow)] = int(quick.sum()) + np.arange(int(slow.sum()))
            results.append(pc.take(pa.concat_arrays(parts), pa.array(at[rows])))
        return results

    def _chars(self) -> CharCheck:
        if self._checked is None:
            self._checked = CharCheck(_CHAR_TESTS)
        return self._checked

    def duck(self) -> Any:
        """The rules' DuckDB connection (two threads), for a layout's own vectorised rules."""
        return self._duck()

    def _duck(self) -> Any:
        if self._con is None:
            import duckdb

            self._con = duckdb.connect()
            self._con.execute("SET threads = 2")
            self._con.execute("SET enable_progress_bar = false")  # none on stdout, see ingest.duck
        return self._con

    def urls(self, texts: pa.Array) -> pa.Array:
        """The URLs written in each text, as posted (``UrlRules.lists`` makes them structs)."""
        return from_text(texts, ("://", "www."), self._urls, STRING_LIST)


def choose(
    cells: pa.Array, given: pa.Array, texts: pa.Array, from_text_fn: Callable[[pa.Array], pa.Array]
) -> pa.Array:
    """Per row: ``given`` where the source cell had a value, else what ``from_text_fn`` reads in the
    text (only the texts of rows without a value are read)."""
    has_value = pc.is_valid(cells)
    if pc.all(has_value).as_py():
        return given
    return pc.if_else(has_value, given, from_text_fn(pc.if_else(has_value, None, texts)))


def choose_by_cell(
    cells: pa.Array,
    from_cells: Callable[[pa.Array], pa.Array] | ArrayMemo,
    texts: pa.Array,
    from_texts: Callable[[pa.Array], pa.Array],
    out_type: pa.DataType,
) -> pa.Array:
    """Per row: ``from_cells`` of its cell where the row has one, else ``from_texts`` of its text
    (both array functions, row for row), like ``choose`` of the two. ``from_cells`` runs once per
    distinct cell and ``from_texts`` on the texts of rows without a cell only; one take puts both
    back in row order. A list cell repeats (the same links, "[]"): its whole chain (split, URL
    structs, repeats dropped) then runs once, not once per row and again per flattened URL. Where
    cells hardly repeat (fewer than two rows per distinct cell: the IRA archive's t.co links),
    ``from_cells`` runs on the cells as they are (a null cell's result is not used). An
    ``ArrayMemo`` keeps the distinct cells' results across batches (the same link cells recur
    file-wide), not those of cells that hardly repeat."""
    encoded = pc.dictionary_encode(cells)
    distinct = encoded.dictionary
    without = pc.is_null(cells)
    if len(distinct) * 2 > len(cells) - cells.null_count:
        compute = from_cells.compute if isinstance(from_cells, ArrayMemo) else from_cells
        given = compute(cells).cast(out_type)
        at = np.arange(len(cells), dtype=np.int64)
    else:
        if not len(distinct):
            given = pa.array([], out_type)
        elif isinstance(from_cells, ArrayMemo):
            given = from_cells.apply(distinct).cast(out_type)
        else:
            given = from_cells(distinct).cast(out_type)
        if not pc.any(without).as_py():
            return pc.take(given, encoded.indices)
        at = np.asarray(pc.fill_null(encoded.indices, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    if not pc.any(without).as_py():
        return given
    without_np = _bools(without)
    read = from_texts(pc.filter(texts, pa.array(without_np))).cast(out_type)
    # Rows without a cell take their text's result, which follows the cells' results.
    at[without_np] = len(given) + np.arange(len(read), dtype=np.int64)
    return pc.take(pa.concat_arrays([given, read]), pa.array(at))


def extra_map(table: pa.Table, names: Sequence[str], more: Sequence[tuple[str, pa.Array]] = ()) -> pa.Array:
    """The ``extra`` map of each row: column name -> text for the ``names`` cells with a value,
    then the ``more`` entries (name, values; null: no entry).

    Entries keep that order; a row with none gets null (as the row path's empty dict).
    """
    n = table.num_rows
    names = [*names, *(name for name, _ in more)]
    if not names:
        return pa.nulls(n, EXTRA)
    columns = [blank_to_null(text_column(table, name)) for name in names[: len(names) - len(more)]]
    columns += [values for _, values in more]
    valid = np.stack([np.asarray(pc.is_valid(c).to_numpy(zero_copy_only=False), dtype=bool) for c in columns])
    counts = valid.sum(axis=0)
    # Entries row by row, columns in order: positions j * n + i of the concatenated columns.
    order = np.nonzero(valid.T.reshape(-1))[0]
    rows, cols = np.divmod(order, len(names))
    flat_values = pc.take(pa.concat_arrays(columns), pa.array(cols * n + rows))
    flat_keys = pc.take(pa.array(list(names), pa.string()), pa.array(cols))
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    mask = pa.array(counts == 0)
    return pa.MapArray.from_arrays(pa.array(offsets), flat_keys, flat_values, type=EXTRA, mask=mask)


def constant(value: str, n: int) -> pa.Array:
    return pa.array([value] * n, pa.string()) if n else pa.array([], pa.string())


def require(values: pa.Array) -> pa.Array:
    """``values`` if none is null; a null (a missing required value) raises NotColumnar."""
    if values.null_count:
        raise NotColumnar("a missing required value")
    return values


# A URL whose canonical form needs no Python: http(s), a host of letters, digits, '.' and '-', no
# port, user, query, fragment, escape or dot segment, and a path of characters that stay as written.
_SIMPLE_URL = r"^(?i:https?)://(?P<host>[A-Za-z0-9.-]+)(?P<path>/[A-Za-z0-9\-_~/:@!$&'()*+,;=.]*)?$"


def _host_rule(host: str) -> dict[str, Any] | None:
    """What a simple URL's host contributes: its canonical host, domain and shortener flag;
    None when the URL is garbage (no valid host) or needs Python (youtu.be links)."""
    canonical_host = _canonical_host(host)
    if canonical_host is None:
        return None
    domain = registrable_domain(canonical_host)
    if domain == "youtu.be":
        return None
    return {
        "host": canonical_host,
        "domain": domain,
        "is_shortener": domain in SHORTENERS or canonical_host in SHORTENERS,
    }


_HOST_TYPE = pa.struct([("host", pa.string()), ("domain", pa.string()), ("is_shortener", pa.bool_())])


class UrlRules:
    """URL structs of many URLs at once: ``canonicalize`` for each, vectorised for simple URLs.

    Simple URLs (most links on platforms: a host and a plain path) get their canonical form from
    Arrow string functions, with the host's rules computed once per distinct host; every other URL
    goes through ``vigil.ingest.urls.canonicalize`` once per distinct URL.
    """

    def __init__(self) -> None:
        self._hosts = ArrowMemo(_host_rule, _HOST_TYPE)
        self._others = ArrowMemo(lambda url: canonicalize(url).as_dict(), URL_STRUCT)

    def structs(self, urls: pa.Array) -> pa.Array:
        """The URL struct of each URL (non-null strings, as posted)."""
        if len(urls) == 0:
            return pa.array([], URL_STRUCT)
        return per_distinct(urls, self._structs)

    def _structs(self, urls: pa.Array) -> pa.Array:
        parts = pc.extract_regex(urls, _SIMPLE_URL)
        simple = pc.fill_null(pc.and_(pc.is_valid(parts), pc.invert(pc.match_substring(urls, "/."))), False)
        host = pc.utf8_lower(pc.struct_field(parts, "host"))
        path = pc.utf8_rtrim(pc.fill_null(pc.struct_field(parts, "path"), ""), "/")
        rules = distinct_apply(pc.if_else(simple, host, None), self._hosts, _HOST_TYPE)
        simple = pc.and_(simple, pc.is_valid(rules))
        canonical = pc.binary_join_element_wise("https://", pc.struct_field(rules, "host"), path, "")
        fast = pa.StructArray.from_arrays(
            [urls, canonical, pc.struct_field(rules, "domain"), pc.struct_field(rules, "is_shortener")],
            fields=list(URL_STRUCT),
        )
        if pc.all(simple).as_py():
            return fast
        slow = distinct_apply(pc.if_else(simple, None, urls), self._others, URL_STRUCT)
        return pc.if_else(simple, fast, slow)

    def lists(self, url_lists: pa.Array) -> pa.Array:
        """``url_structs`` of each list of URLs: structs without a repeated canonical form, in order."""
        if len(url_lists) == 0:
            return pa.array([], URL_LIST)
        url_lists = url_lists.cast(STRING_LIST)
        structs = self.structs(pc.list_flatten(url_lists))
        as_structs = pa.ListArray.from_arrays(_offsets(url_lists), structs, mask=pc.is_null(url_lists))
        # url_structs keeps the first struct of each canonical form in a list.
        return dedupe_lists(as_structs, pc.struct_field(structs, "canonical")).cast(URL_LIST)
