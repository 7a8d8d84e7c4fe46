"""The app starts offline with no API key, and refuses a mismatched embedder."""

from __future__ import annotations

import socket

import pytest
from fastapi.testclient import TestClient

from lycheemem.app import create_app
from lycheemem.errors import EmbeddingMismatch
from lycheemem.testing import HashingEmbedder, make_test_settings


def test_starts_with_no_network_and_no_key(tmp_path) -> None:
    # The session-wide guard already refuses non-loopback connections; prove it is active.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("93.184.216.34", 80), timeout=1)
    settings = make_test_settings(tmp_path)
    assert settings.mode == "memory_only"
    with TestClient(create_app(settings)) as client:
        assert client.get("/ready").json()["status"] == "ready"
        response = client.post(
            "/memory/append-turn",
            json={"session_id": "s", "role": "user", "content": "hello there"},
        )
        assert response.status_code == 200
    assert (settings.data_dir / "lycheemem.db").is_file()
    assert (settings.data_dir / "lance").is_dir()


def test_embedding_dimension_mismatch_is_a_startup_error(tmp_path) -> None:
    settings = make_test_settings(tmp_path)
    with TestClient(create_app(settings, embedder=HashingEmbedder(32))):
        pass
    with (
        pytest.raises(EmbeddingMismatch, match="reindex"),
        TestClient(create_app(settings, embedder=HashingEmbedder(48))),
    ):
        pass
