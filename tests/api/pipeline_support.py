"""Helpers for the pipeline API tests: apps with a scripted LLM and SSE parsing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from lycheemem.app import create_app
from lycheemem.domain.ports import LLM
from lycheemem.testing import HashingEmbedder, make_test_settings


@contextmanager
def app_client(tmp_path: Path, llm: LLM | None = None, **overrides: Any) -> Iterator[TestClient]:
    """A running app on ``tmp_path`` with the hashing embedder and an optional LLM."""
    settings = make_test_settings(tmp_path, **overrides)
    with TestClient(create_app(settings, llm=llm, embedder=HashingEmbedder(64))) as client:
        yield client


def sse_events(body: str) -> list[dict[str, Any]]:
    """The JSON events of an SSE body; comment lines (keep-alives) are ignored."""
    events = []
    for frame in body.split("\n\n"):
        lines = [line for line in frame.splitlines() if line.startswith("data:")]
        if lines:
            events.append(json.loads("".join(line[5:].strip() for line in lines)))
    return events


def register(client: TestClient, username: str) -> dict[str, str]:
    """Register ``username`` and return its auth headers."""
    response = client.post("/auth/register", json={"username": username, "password": "pw-123456"})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}
