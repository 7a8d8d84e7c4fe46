"""Fixtures of the security suite: one running app per module, two tenants on it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from lycheemem.app import create_app
from lycheemem.testing import HashingEmbedder, make_test_settings
from pg_support import backend_overrides


@dataclass(frozen=True)
class Tenants:
    """A running app and the headers of its two registered tenants."""

    client: TestClient
    alice: dict[str, str]
    bob: dict[str, str]


def _register(client: TestClient, username: str) -> dict[str, str]:
    body = {"username": username, "password": "pw-123456"}
    response = client.post("/auth/register", json=body)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


@pytest.fixture(scope="module")
def tenants(
    tmp_path_factory: pytest.TempPathFactory, backend: str, request: pytest.FixtureRequest
) -> Iterator[Tenants]:
    """A memory-only app (hashing embedder) shared by a module's tests, on each backend,
    never raising server exceptions into the test so that a 500 is seen as a 500."""
    settings = make_test_settings(
        tmp_path_factory.mktemp("security"), **backend_overrides(request, backend)
    )
    app = create_app(settings, embedder=HashingEmbedder(64))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Tenants(client, _register(client, "alice"), _register(client, "bob"))
