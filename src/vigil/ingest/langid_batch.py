"""py3langid's classifier, run on many texts at once with numpy.

py3langid walks each text's bytes through its byte-level automaton in a Python loop (about
150 µs per tweet here). The automaton is deterministic, so the walk can advance many texts by one
byte per numpy step instead: texts are sorted by length (longest first) so that at byte position
``p`` the texts still running are a prefix of the batch. The features each text visits are
counted and scored exactly as py3langid does (naive Bayes over log1p of the counts, then its
length-tempered softmax and its folding of aliased labels), so the labels are py3langid's own;
probabilities may differ in the last float32 bits because sums run in a different order.

Texts longer than ``MAX_BYTES`` go through py3langid one by one: the vectorized walk would run
its whole length with a single active text.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import numpy as np
from py3langid.langid import LanguageIdentifier
from scipy import sparse

MAX_BYTES = 4096
WALK_CHUNK = 1024  # texts advanced together through the automaton...
WALK_BYTES = 1 << 19  # ...holding at most this many bytes (feature visits are about one per byte)


def _encode(text: str) -> bytes:
    # The same normalization as LanguageIdentifier._encode.
    if text.isupper():
        text = text.lower()
    return unicodedata.normalize("NFC", text).encode("utf8", errors="surrogatepass")


def _chunks(items: list[int], sizes: list[int]) -> list[list[int]]:
    """Consecutive runs of ``items`` of at most WALK_CHUNK items and WALK_BYTES bytes (at least one)."""
    chunks: list[list[int]] = []
    current: list[int] = []
    total = 0
    for item, size in zip(items, sizes, strict=True):
        if current and (len(current) >= WALK_CHUNK or total + size > WALK_BYTES):
            chunks.append(current)
            current, total = [], 0
        current.append(item)
        total += size
    if current:
        chunks.append(current)
    return chunks


class BatchIdentifier:
    """Classifies texts with a py3langid ``LanguageIdentifier`` built with ``norm_probs=True``."""

    def __init__(self, identifier: LanguageIdentifier) -> None:
        self._identifier = identifier
        # A view of py3langid's own transition table (no copy: it is 10 million entries).
        table = identifier.tk_nextmove
        self._nextmove = np.frombuffer(table, dtype=np.dtype(f"u{table.itemsize}"))
        self._rowbase = np.asarray(identifier._rowbase, dtype=np.int64)
        self._output = np.asarray(identifier.tk_output, dtype=np.int64)
        self._ptc = identifier.nb_ptc
        self._pc = np.asarray(identifier.nb_pc, dtype=np.float32)
        self._classes = list(identifier.nb_classes)
        self._aliases = list(identifier._alias_pairs)
        self._features = self._ptc.shape[0]

    def classify(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        """(label, probability) of each text, as ``LanguageIdentifier.classify`` would give."""
        encoded = [_encode(text) for text in texts]
        results: list[tuple[str, float] | None] = [None] * len(texts)
        short = [i for i, data in enumerate(encoded) if len(data) <= MAX_BYTES]
        for i, data in enumerate(encoded):
            if len(data) > MAX_BYTES:
                code, confidence = self._identifier.classify(texts[i])
                results[i] = (str(code), float(confidence))
        short.sort(key=lambda i: len(encoded[i]), reverse=True)
        for chunk in _chunks(short, [len(encoded[i]) for i in short]):
            for index, result in zip(chunk, self._classify_chunk([encoded[i] for i in chunk]), strict=True):
                results[index] = result
        return [r for r in results if r is not None]

    def _walk(self, data: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """(row, feature) of every feature visit; ``data`` sorted by length, longest first."""
        lengths = np.fromiter((len(d) for d in data), dtype=np.int64, count=len(data))
        width = int(lengths[0]) if len(data) else 0
        matrix = np.zeros((len(data), max(width, 1)), dtype=np.uint8)
        for row, item in enumerate(data):
            matrix[row, : len(item)] = np.frombuffer(item, dtype=np.uint8)
        # active[p]: how many texts are longer than p (a prefix, since lengths decrease)
        active = np.searchsorted(-lengths, -np.arange(width), side="left")
        states = np.zeros(len(data), dtype=np.int64)
        rows: list[np.ndarray] = []
        features: list[np.ndarray] = []
        for position in range(width):
            k = int(active[position])
            current = self._nextmove[self._rowbase[states[:k]] + matrix[:k, position]].astype(np.int64)
            states[:k] = current
            emitted = self._output[current]
            hit = np.flatnonzero(emitted >= 0)
            if hit.size:
                rows.append(hit)
                features.append(emitted[hit])
        if not rows:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        return np.concatenate(rows), np.concatenate(features)

    def _classify_chunk(self, data: list[bytes]) -> list[tuple[str, float]]:
        rows, features = self._walk(data)
        n = len(data)
        scores = np.zeros((n, len(self._classes)), dtype=np.float32)  # featureless: uniform
        if rows.size:
            keys, counts = np.unique(rows * self._features + features, return_counts=True)
            pair_rows, pair_features = keys // self._features, keys % self._features
            # Score as a sparse (texts x features-seen) matrix times those features' rows of the
            # model, gathered once per chunk: no (pairs x classes) temporary, no float32 model copy.
            seen, column = np.unique(pair_features, return_inverse=True)
            counts_matrix = sparse.csr_matrix(
                (np.log1p(counts.astype(np.float32)), (pair_rows, column)), shape=(n, len(seen))
            )
            sums = np.asarray(counts_matrix @ self._ptc[seen].astype(np.float32), dtype=np.float32)
            has_features = np.zeros(n, dtype=bool)
            has_features[pair_rows] = True
            scores[has_features] = sums[has_features] + self._pc
        lengths = np.fromiter((len(d) or 1 for d in data), dtype=np.float32, count=n)
        scores *= (1.0 / np.sqrt(lengths))[:, None]
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        scores /= scores.sum(axis=1, keepdims=True)
        for first, dupe in self._aliases:
            scores[:, first] += scores[:, dupe]
            scores[:, dupe] = 0.0
        best = scores.argmax(axis=1)
        confidence = scores[np.arange(n), best]
        return [(self._classes[b], float(c)) for b, c in zip(best.tolist(), confidence.tolist(), strict=True)]
