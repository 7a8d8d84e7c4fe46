"""The WordLlama model is loaded once per process and an app's embedder threads end with it."""

from __future__ import annotations

import threading
from pathlib import Path

from fastapi.testclient import TestClient

from lycheemem.app import create_app
from lycheemem.providers.embedding.wordllama import WordLlamaEmbedder
from lycheemem.testing import make_test_settings


def _wordllama_threads() -> int:
    return sum(thread.name.startswith("wordllama") for thread in threading.enumerate())


def test_two_embedders_share_one_loaded_model() -> None:
    first, second = WordLlamaEmbedder(), WordLlamaEmbedder()
    try:
        first.load()
        second.load()
        assert first._model is second._model
        truncated = WordLlamaEmbedder(dim=64)
        truncated.load()
        assert truncated._model is not first._model  # another truncation, another model
        truncated.close()
    finally:
        first.close()
        second.close()


def test_closing_an_app_stops_the_embedder_threads_it_started(tmp_path: Path) -> None:
    before = _wordllama_threads()
    for round_ in range(3):
        settings = make_test_settings(tmp_path / str(round_))
        with TestClient(create_app(settings)) as client:
            assert client.post("/memory/search", json={"query": "Lisbon"}).status_code == 200
            assert _wordllama_threads() > before
    for thread in threading.enumerate():
        if thread.name.startswith("wordllama"):
            thread.join(timeout=5)
    assert _wordllama_threads() == before
