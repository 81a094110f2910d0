"""The embedded sentence-embedding model: a static token table, mean-pooled.

``model/`` holds a model2vec distillation of all-MiniLM-L6-v2 (Apache-2.0): one 256-dimension
vector per word piece of the base model's vocabulary, float16, 15 MB. A sentence's embedding is
the mean of its word pieces' vectors, L2-normalised, so a dot product is the cosine similarity.
Encoding a caller's line costs a tokenizer call and a table lookup (well under a millisecond).
``scripts/build-embedding-model`` rebuilds the files; ``model/reference.json`` holds vectors
model2vec itself computed, which the tests compare with this encoder.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from safetensors.numpy import load_file
from tokenizers import Tokenizer

MODEL_DIR = Path(__file__).parent / "model"
MAX_TOKENS = 512
_WORD = re.compile(r"[a-z]+")

Vectors = NDArray[np.float32]


class Embedder:
    """Sentence -> unit vector. Thread-safe: the table is read-only."""

    def __init__(self, model_dir: Path = MODEL_DIR) -> None:
        config = json.loads((model_dir / "config.json").read_text())
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        # float32 once at load: float16 sums lose precision and are slower on CPUs
        self._table: Vectors = load_file(str(model_dir / "model.safetensors"))["embeddings"].astype(np.float32)
        self._unknown = self._tokenizer.token_to_id("[UNK]")
        self._normalize = bool(config.get("normalize", True))
        self.dimensions = int(self._table.shape[1])

    def encode(self, sentences: Sequence[str]) -> Vectors:
        """One row per sentence; a sentence with no known word piece is the zero vector."""
        out = np.zeros((len(sentences), self.dimensions), dtype=np.float32)
        if not sentences:
            return out
        for row, encoding in enumerate(self._tokenizer.encode_batch_fast(list(sentences), add_special_tokens=False)):
            ids = [i for i in encoding.ids[:MAX_TOKENS] if i != self._unknown]
            if ids:
                out[row] = self._table[ids].mean(axis=0)
        if self._normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            np.divide(out, norms, out=out, where=norms > 0)
        return out

    def known_share(self, sentence: str) -> float:
        """The share of the sentence's words the model knows whole (1.0 for no words): "blorf"
        or "zzzk" only exist as word pieces, and what pieces add up to means nothing."""
        words = [w for w in _WORD.findall(sentence.lower()) if len(w) > 1]
        if not words:
            return 1.0
        return sum(self._tokenizer.token_to_id(w) is not None for w in words) / len(words)

    def encode_one(self, sentence: str) -> Vectors:
        vector: Vectors = self.encode([sentence])[0]
        return vector


@functools.cache
def embedder() -> Embedder:
    """The packaged model, loaded once per process (about 40 ms, 30 MB)."""
    return Embedder()
