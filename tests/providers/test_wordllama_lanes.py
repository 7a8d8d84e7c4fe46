"""The WordLlama embedder keeps query embeddings off the bulk lane that imports use."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import numpy as np
import pytest

from lycheemem.domain.bulk import bulk_work
from lycheemem.providers.embedding.wordllama import BULK_SLICE, WordLlamaEmbedder

pytestmark = pytest.mark.anyio

DOCS = [f"Imported note {n}: our staging cluster is called Hopper." for n in range(BULK_SLICE + 5)]


class _HoldingModel:
    """The real model, except that a call containing ``hold`` waits until released."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.calls: list[tuple[str, int]] = []
        self.holding = threading.Event()
        self.release = threading.Event()

    def embed(self, texts: list[str], **kwargs: Any) -> Any:
        self.calls.append((threading.current_thread().name, len(texts)))
        if any("hold" in text for text in texts):
            self.holding.set()
            assert self.release.wait(60)
        return self.model.embed(texts, **kwargs)


@pytest.fixture
async def embedder() -> Any:
    model = WordLlamaEmbedder()
    await asyncio.to_thread(model.load)
    yield model
    model.close()


async def test_a_query_is_embedded_while_a_bulk_embedding_is_in_progress(
    embedder: WordLlamaEmbedder,
) -> None:
    expected_docs = await embedder.embed(["hold on", *DOCS])
    holding = _HoldingModel(embedder._model)
    embedder._model = holding

    async def bulk() -> np.ndarray:
        with bulk_work():
            return await embedder.embed(["hold on", *DOCS], kind="document")

    task = asyncio.create_task(bulk())
    assert await asyncio.to_thread(holding.holding.wait, 60)
    # The bulk call is stuck inside the model; an interactive one must not wait for it.
    query = await asyncio.wait_for(embedder.embed(["where does Ines live?"], kind="query"), 20)
    assert not task.done()
    holding.release.set()
    documents = await task

    assert query.shape == (1, embedder.dim) and np.linalg.norm(query[0]) > 0.99
    np.testing.assert_allclose(documents, expected_docs, atol=1e-6)
    lanes = [name.rsplit("_", 1)[0] for name, _ in holding.calls]
    assert lanes == ["wordllama-bulk", "wordllama", "wordllama-bulk"]
    # Bulk work goes in slices, so one call never holds the lane for a whole import batch.
    assert [size for _, size in holding.calls] == [BULK_SLICE, 1, len(DOCS) + 1 - BULK_SLICE]


async def test_an_empty_bulk_call_returns_an_empty_matrix(embedder: WordLlamaEmbedder) -> None:
    with bulk_work():
        assert (await embedder.embed([])).shape == (0, embedder.dim)
