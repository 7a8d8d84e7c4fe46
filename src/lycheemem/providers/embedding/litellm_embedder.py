"""Any litellm embedding model (OpenAI, Gemini, Ollama, vLLM, ...)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lycheemem.domain.ports import EmbedKind
from lycheemem.errors import LLMError
from lycheemem.providers.embedding.base import l2_normalise

__all__ = ["LiteLLMEmbedder"]

_TASK_TYPE_PREFIXES = ("gemini/", "vertex_ai/")


class LiteLLMEmbedder:
    """Embeds through ``litellm.aembedding`` in batches of ``batch_size`` texts."""

    def __init__(
        self,
        model: str,
        *,
        dim: int,
        api_key: str = "",
        api_base: str = "",
        batch_size: int = 64,
        timeout_s: float = 60.0,
    ) -> None:
        self.model_name = model
        self.dim = dim
        self._api_key = api_key
        self._api_base = api_base
        self._batch_size = batch_size
        self._timeout_s = timeout_s

    def _kwargs(self, kind: EmbedKind) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.model_name, "timeout": self._timeout_s}
        if self._api_key:
            kwargs["api_key"] = self._api_key
        if self._api_base:
            kwargs["api_base"] = self._api_base
        if self.model_name.startswith(_TASK_TYPE_PREFIXES):
            kwargs["task_type"] = "RETRIEVAL_QUERY" if kind == "query" else "RETRIEVAL_DOCUMENT"
        return kwargs

    async def _embed_batch(self, texts: list[str], kind: EmbedKind) -> np.ndarray:
        import litellm

        try:
            response = await litellm.aembedding(input=texts, **self._kwargs(kind))
        except Exception as exc:  # litellm raises many provider-specific types
            raise LLMError(f"embedding call failed: {exc}") from exc
        rows = [item["embedding"] for item in response.data]
        return np.asarray(rows, dtype=np.float32)

    async def probe_dim(self) -> int:
        """Embed one short text and return the dimension the model produces."""
        return int((await self._embed_batch(["dimension probe"], "document")).shape[1])

    async def embed(self, texts: Sequence[str], *, kind: EmbedKind = "document") -> np.ndarray:
        """Embed ``texts`` in batches; empty texts give zero rows."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        positions = [i for i, text in enumerate(texts) if text.strip()]
        for start in range(0, len(positions), self._batch_size):
            chunk = positions[start : start + self._batch_size]
            vectors = await self._embed_batch([texts[i] for i in chunk], kind)
            if vectors.shape[1] != self.dim:
                raise LLMError(
                    f"embedding model {self.model_name!r} returned {vectors.shape[1]} dims, "
                    f"expected {self.dim}"
                )
            out[chunk] = l2_normalise(vectors)
        return out
