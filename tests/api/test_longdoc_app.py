"""Long-document routes mounted in the real app (same auth, errors and isolation)."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

FILLER = "The weather report mentioned light rain over the valley that afternoon. " * 40


def _document() -> str:
    parts = [FILLER] * 30
    parts[7] = "The vault code is stored with Imre Kovacs. " + FILLER
    parts[22] = "Imre Kovacs lives in the harbour town of Split. " + FILLER
    return "\n\n".join(parts)


def _wait_ready(client: TestClient, doc_id: str, headers: dict[str, str]) -> dict:
    for _ in range(200):
        body = client.get(f"/longdoc/documents/{doc_id}", headers=headers).json()
        if body["status"] in ("ready", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError("document never became ready")


def test_upload_ask_and_isolation(client: TestClient, make_user) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    created = client.post(
        "/longdoc/documents",
        headers=alice,
        json={"title": "case file", "text": _document(), "chunk_tokens": 512},
    )
    assert created.status_code == 200, created.text
    doc_id = created.json()["doc_id"]
    assert _wait_ready(client, doc_id, alice)["status"] == "ready"
    answer = client.post(
        "/longdoc/ask",
        headers=alice,
        json={"doc_id": doc_id, "question": "Where does the keeper of the vault code live?"},
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["chunks_opened"] < body["chunks_total"]
    final_memory = body["memory_trace"][-1]["memory"] if body["memory_trace"] else ""
    assert "Split" in body["answer"] + final_memory
    assert client.get(f"/longdoc/documents/{doc_id}", headers=bob).status_code == 404
    assert client.get(f"/longdoc/documents/{doc_id}").status_code == 404
    assert (
        client.post(
            "/longdoc/ask", headers=bob, json={"doc_id": doc_id, "question": "x?"}
        ).status_code
        == 404
    )
    assert client.get("/ready").json()["checks"]["longdoc"] == "ok"


def test_large_document_is_not_cut_by_the_generic_body_limit(client: TestClient) -> None:
    text = "A sentence about nothing in particular. " * 80_000  # ~3.2 MB > 2 MiB body limit
    response = client.post("/longdoc/documents", json={"title": "big", "text": text})
    assert response.status_code == 200, response.text[:200]
