"""The default embedder: WordLlama static embeddings, loaded from the installed wheel."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from lycheemem.domain.bulk import in_bulk_work, lower_thread_priority
from lycheemem.domain.ports import EmbedKind
from lycheemem.errors import ConfigError
from lycheemem.providers.embedding.base import l2_normalise

__all__ = ["WordLlamaEmbedder"]

_ALLOWED_DIMS = (64, 128, 256)
# Texts per call on the bulk lane: a slice of ~1 KB texts takes a few milliseconds, and
# its padded token tensor stays small (a 128-text batch of 1 KB texts pads to ~30 MB).
BULK_SLICE = 32


class WordLlamaEmbedder:
    """256-d (or truncated 128/64-d) WordLlama vectors, computed on two dedicated threads.

    Interactive calls (searches, appends) use one thread; calls made inside
    ``bulk_work()`` (imports, background re-embedding) use a second one at lowered OS
    priority, in slices of ``BULK_SLICE`` texts. A query embedding therefore never
    waits behind an import's batches, and under CPU pressure the kernel runs it first.
    The model is read-only after loading, so the two threads share it.

    The weights and tokenizer ship inside the ``wordllama`` wheel; loading never
    downloads (``disable_download=True``).
    """

    model_name = "wordllama"

    def __init__(self, dim: int = 256) -> None:
        if dim not in _ALLOWED_DIMS:
            raise ConfigError(
                f"LYCHEEMEM_EMBEDDING_DIM={dim} is not one of {_ALLOWED_DIMS} for wordllama"
            )
        self.dim = dim
        self._model: Any = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="wordllama")
        self._bulk_executor = ThreadPoolExecutor(
            1, thread_name_prefix="wordllama-bulk", initializer=lower_thread_priority
        )
        self._load_lock = threading.Lock()

    def load(self) -> None:
        """Load the bundled weights (blocking; call from a worker thread at startup)."""
        self._model = _bundled_model(self.dim)

    def _embed_sync(self, texts: list[str]) -> np.ndarray:
        if self._model is None:
            with self._load_lock:  # the two lanes could both find it unloaded
                if self._model is None:
                    self.load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.embed([text or " " for text in texts], norm=False)
        matrix = l2_normalise(np.asarray(vectors, dtype=np.float32)[:, : self.dim])
        for position, text in enumerate(texts):
            if not text.strip():
                matrix[position] = 0.0
        return matrix

    async def embed(self, texts: Sequence[str], *, kind: EmbedKind = "document") -> np.ndarray:
        """Embed ``texts`` on the interactive or (in ``bulk_work()``) the bulk thread.

        ``kind`` does not change WordLlama output.
        """
        loop = asyncio.get_running_loop()
        if not in_bulk_work():
            return await loop.run_in_executor(self._executor, self._embed_sync, list(texts))
        parts = [
            await loop.run_in_executor(
                self._bulk_executor, self._embed_sync, list(texts[start : start + BULK_SLICE])
            )
            for start in range(0, len(texts), BULK_SLICE)
        ]
        return np.concatenate(parts) if parts else self._embed_sync([])

    def close(self) -> None:
        """Stop the worker threads."""
        self._executor.shutdown(wait=False)
        self._bulk_executor.shutdown(wait=False)


@functools.lru_cache(maxsize=len(_ALLOWED_DIMS))
def _bundled_model(dim: int) -> Any:
    """The wheel's WordLlama model truncated to ``dim``, loaded once per process.

    The model is read-only after loading, so every embedder of the process (the app's,
    the long-document slice's, each app a test opens) shares one copy (~70 MB) instead
    of keeping its own.
    """
    import wordllama
    from wordllama import WordLlama

    package_dir = Path(wordllama.__file__).parent
    trunc = None if dim == 256 else dim
    return WordLlama.load(cache_dir=package_dir, disable_download=True, trunc_dim=trunc)
