"""REST flows of /longdoc through a small app that mounts the real router."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from longdoc_support import BlockedCompressionModel, make_settings, planted_document

from lycheemem.api.deps import get_caller
from lycheemem.api.errors import install_error_handlers
from lycheemem.auth.users import Caller
from lycheemem.longdoc.api import router
from lycheemem.longdoc.backends.base import LongDocModel
from lycheemem.longdoc.bank_factory import build_bank
from lycheemem.longdoc.service import LongDocService
from lycheemem.providers.tokens import build_token_counter
from lycheemem.storage.sqlite.database import Database
from lycheemem.testing import HashingEmbedder

FACTS = {
    9: "Quorvane Tesselby lives in the city of Mirrowfall.",
    31: "The Zephyrine lamp was designed by Quorvane Tesselby.",
}
QUESTION = "In which city does the designer of the Zephyrine lamp live?"
ALICE = {"X-Test-User": "alice"}
BOB = {"X-Test-User": "bob"}


async def _test_caller(request: Request) -> Caller:
    return Caller(user_id=request.headers.get("x-test-user", ""))


def _app(tmp_path: Path, model: LongDocModel | None = None, **overrides: Any) -> FastAPI:
    counter = build_token_counter()

    async def lifespan(app: FastAPI) -> Any:
        db = Database(tmp_path / "api.db", synchronous="NORMAL")
        await db.open()
        settings = make_settings(chunk_tokens=256, **overrides)
        bank = build_bank(db, lance_dir=tmp_path / "lance", dim=64)
        service = LongDocService(settings, bank, HashingEmbedder(64), counter, model=model)
        await service.start()
        app.state.ctx = SimpleNamespace(longdoc=service, ready=True)
        yield
        await service.close()
        await db.close()

    app = FastAPI(lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(router)
    app.dependency_overrides[get_caller] = _test_caller
    return app


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(_app(tmp_path, max_doc_bytes=200_000)) as test_client:
        yield test_client


def _ready(client: TestClient, headers: dict[str, str], text: str) -> str:
    created = client.post("/longdoc/documents", json={"title": "h", "text": text}, headers=headers)
    assert created.status_code == 200, created.text
    assert created.json()["status"] == "queued"
    doc_id = created.json()["doc_id"]
    for _ in range(200):
        body = client.get(f"/longdoc/documents/{doc_id}", headers=headers).json()
        if body["status"] == "ready":
            assert body["progress"] == 1.0 and body["compression_ratio"] >= 1
            return doc_id
        time.sleep(0.02)
    raise AssertionError(f"document never became ready: {body}")


def test_document_lifecycle_and_ask(client: TestClient) -> None:
    doc_id = _ready(client, ALICE, planted_document(40, FACTS))
    listed = client.get("/longdoc/documents", headers=ALICE).json()
    assert listed["total"] == 1 and listed["documents"][0]["doc_id"] == doc_id
    answer = client.post(
        "/longdoc/ask", json={"doc_id": doc_id, "question": QUESTION}, headers=ALICE
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "Mirrowfall" in body["answer"] and body["method"] == "lychee"
    unique = {item["chunk_index"] for item in body["opened"]}
    assert body["chunks_opened"] == len(unique) < body["chunks_total"]
    for key in ("llm_calls", "prompt_tokens", "completion_tokens", "latency_ms", "memory_trace"):
        assert key in body
    deleted = client.delete(f"/longdoc/documents/{doc_id}", headers=ALICE)
    assert deleted.status_code == 200
    gone = client.get(f"/longdoc/documents/{doc_id}", headers=ALICE)
    assert gone.status_code == 404 and gone.json()["code"] == "document_not_found"


def test_ask_streams_sse_events(client: TestClient) -> None:
    doc_id = _ready(client, ALICE, planted_document(40, FACTS))
    payload = {"doc_id": doc_id, "question": QUESTION, "stream": True}
    with client.stream("POST", "/longdoc/ask", json=payload, headers=ALICE) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = "".join(response.iter_text())
    frames = [f for f in raw.split("\n\n") if f]
    assert all(f.startswith("data: ") for f in frames)
    events = [json.loads(f[len("data: ") :]) for f in frames]
    types = [e["type"] for e in events]
    assert types[-2:] == ["answer", "done"] and "gate" in types and "memory" in types
    assert "Mirrowfall" in events[-1]["answer"]


def test_other_users_cannot_see_or_touch_a_document(client: TestClient) -> None:
    doc_id = _ready(client, ALICE, planted_document(10, FACTS))
    assert client.get("/longdoc/documents", headers=BOB).json()["total"] == 0
    assert client.get(f"/longdoc/documents/{doc_id}", headers=BOB).status_code == 404
    ask = client.post("/longdoc/ask", json={"doc_id": doc_id, "question": "q"}, headers=BOB)
    assert ask.status_code == 404
    assert client.delete(f"/longdoc/documents/{doc_id}", headers=BOB).status_code == 404
    assert client.get(f"/longdoc/documents/{doc_id}", headers=ALICE).status_code == 200


def test_bad_input_gives_422_and_413(client: TestClient) -> None:
    too_big = client.post(
        "/longdoc/documents", json={"title": "t", "text": "x" * 300_000}, headers=ALICE
    )
    assert too_big.status_code == 413 and too_big.json()["code"] == "payload_too_large"
    for body in ({"title": "t", "text": ""}, {"title": "t", "text": "a", "ratio": 0}):
        response = client.post("/longdoc/documents", json=body, headers=ALICE)
        assert response.status_code == 422 and response.json()["code"] == "validation_error"
    doc_id = _ready(client, ALICE, planted_document(4, {}))
    bad = client.post(
        "/longdoc/ask", json={"doc_id": doc_id, "question": "q", "method": "x"}, headers=ALICE
    )
    assert bad.status_code == 422


def test_document_not_ready_gives_409(tmp_path: Path) -> None:
    app = _app(tmp_path)
    with TestClient(app) as client:
        service: LongDocService = app.state.ctx.longdoc
        service.model = BlockedCompressionModel(build_token_counter())  # compression never ends
        created = client.post(
            "/longdoc/documents",
            json={"title": "t", "text": planted_document(8, {})},
            headers=ALICE,
        ).json()
        for stream in (False, True):
            response = client.post(
                "/longdoc/ask",
                json={"doc_id": created["doc_id"], "question": "q", "stream": stream},
                headers=ALICE,
            )
            assert response.status_code == 409 and response.json()["code"] == "document_not_ready"
        progress = client.get(f"/longdoc/documents/{created['doc_id']}", headers=ALICE).json()
        assert progress["status"] in ("queued", "compressing") and progress["chunks_done"] == 0
