"""Embedding helpers shared by every embedder: normalisation and an LRU cache."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from lycheemem.domain.ports import Embedder, EmbedKind

__all__ = ["CachedEmbedder", "EmbeddingStats", "l2_normalise"]


def l2_normalise(matrix: np.ndarray) -> np.ndarray:
    """Return float32 rows scaled to unit length (all-zero rows stay zero)."""
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


class EmbeddingStats:
    """Counters exported as metrics."""

    def __init__(self) -> None:
        self.texts = 0
        self.batches = 0
        self.cache_hits = 0


class CachedEmbedder:
    """Wraps an embedder with an LRU cache keyed by model, kind and text hash.

    Promises the same results as the wrapped embedder; only texts missing from
    the cache are sent to it, in one call.
    """

    def __init__(self, inner: Embedder, *, capacity: int = 20_000) -> None:
        self.inner = inner
        self.model_name = inner.model_name
        self.dim = inner.dim
        self.stats = EmbeddingStats()
        self._capacity = capacity
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def _key(self, text: str, kind: EmbedKind) -> bytes:
        return hashlib.sha1(f"{self.model_name}\x00{kind}\x00{text}".encode()).digest()

    async def embed(self, texts: Sequence[str], *, kind: EmbedKind = "document") -> np.ndarray:
        """Embed ``texts``, serving repeated texts from the cache."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        keys = [self._key(text, kind) for text in texts]
        missing: dict[bytes, list[int]] = {}
        with self._lock:
            for position, key in enumerate(keys):
                cached = self._cache.get(key)
                if cached is not None:
                    self._cache.move_to_end(key)
                    out[position] = cached
                    self.stats.cache_hits += 1
                else:
                    missing.setdefault(key, []).append(position)
        if missing:
            unique_positions = [positions[0] for positions in missing.values()]
            vectors = await self.inner.embed([texts[p] for p in unique_positions], kind=kind)
            self.stats.texts += len(unique_positions)
            self.stats.batches += 1
            with self._lock:
                for (key, positions), vector in zip(missing.items(), vectors, strict=True):
                    out[positions] = vector
                    self._cache[key] = vector
                while len(self._cache) > self._capacity:
                    self._cache.popitem(last=False)
        return out
