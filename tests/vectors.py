"""A deterministic embedding function for tests and benchmarks (no model, no network).

Bag of words: every word gets a fixed random unit vector (seeded by its SHA-256), a text is the
normalized sum of its words' vectors. Texts sharing words are near each other, so nearest
neighbours are meaningful (unlike independent random vectors, which are all about equally far).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

WORD = re.compile(r"[A-Za-z0-9]+")


@lru_cache(maxsize=100_000)
def _word_vector(word: str, dims: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(word.encode("utf-8")).digest()[:8], "little")
    vector = np.random.default_rng(seed).standard_normal(dims)
    return vector / np.linalg.norm(vector)


def embed_array(texts: Sequence[str], dims: int) -> np.ndarray:
    """The embeddings of ``texts`` as a ``(len(texts), dims)`` float32 array."""
    out = np.zeros((len(texts), dims), dtype=np.float64)
    for row, text in enumerate(texts):
        for word in WORD.findall(text.lower()):
            out[row] += _word_vector(word, dims)
        norm = np.linalg.norm(out[row])
        if norm == 0:
            out[row] = _word_vector("<empty>", dims)
        else:
            out[row] /= norm
    return out.astype(np.float32)


class HashEmbeddings:
    """The embedding function (``texts -> vectors``); counts its calls and texts."""

    def __init__(self, dims: int) -> None:
        self.dims = dims
        self.calls: list[int] = []

    def __call__(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(len(texts))
        return embed_array(list(texts), self.dims).tolist()


def cosine_ranking(query: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Brute-force cosine similarity of one query against every row of ``vectors``."""
    norms = np.linalg.norm(vectors, axis=1) * np.linalg.norm(query)
    return (vectors @ query) / np.where(norms == 0, 1, norms)
