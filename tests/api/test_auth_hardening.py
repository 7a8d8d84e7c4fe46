"""Auth under hostile use: passwords as typed, hashing off the loop, login limits, revocation."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_password_is_kept_as_typed(client: TestClient) -> None:
    body = {"username": "spacey", "password": "  spaced pass  "}
    assert client.post("/auth/register", json=body).status_code == 200
    assert client.post("/auth/login", json=body).status_code == 200
    trimmed = client.post("/auth/login", json={"username": "spacey", "password": "spaced pass"})
    assert trimmed.status_code == 401
