"""The vLLM backend against a fake OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from typing import Any

import pytest
from longdoc_support import planted_document
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lycheemem.errors import LLMError
from lycheemem.longdoc.backends.vllm import VLLMModel, yes_probability_from_top
from lycheemem.testing import serve_in_thread

pytestmark = pytest.mark.anyio

FACTS = {
    9: "Quorvane Tesselby lives in the city of Mirrowfall.",
    31: "The Zephyrine lamp was designed by Quorvane Tesselby.",
}
QUESTION = "In which city does the designer of the Zephyrine lamp live?"


class FakeVLLM:
    """Records request bodies, tracks concurrency and answers like a tiny model."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.fail_next = 0

    def _prompt(self, body: dict[str, Any]) -> str:
        if "messages" in body:
            return "\n".join(m["content"] for m in body["messages"])
        return str(body["prompt"])

    def _reply(self, body: dict[str, Any]) -> tuple[str, dict[str, float]]:
        prompt = self._prompt(body)
        if "yes or no" in prompt:
            passage = prompt.rsplit("Passage:", 1)[1]
            relevant = "Quorvane" in passage or "Zephyrine" in passage
            return ("yes" if relevant else "no"), (
                {"yes": -0.05, "no": -3.0} if relevant else {"yes": -4.0, "no": -0.02}
            )
        if "Information:" in prompt:
            return "Mirrowfall", {}
        if "New passage:" in prompt:
            passage = prompt.split("New passage:", 1)[1].split("Write the updated")[0]
            return passage.strip()[:300], {}
        # a good compressor keeps the sentences that carry names
        sentences = prompt.split("Passage:", 1)[1].split(". ")
        kept = [s for s in sentences if "Quorvane" in s or "Zephyrine" in s] or sentences[:1]
        return " ".join(". ".join(kept).split()[: body["max_tokens"] // 2]), {}

    async def handle(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.bodies.append(body)
        if self.fail_next > 0:
            self.fail_next -= 1
            return JSONResponse({"error": "busy"}, status_code=503)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(0.02)
        self.in_flight -= 1
        text, top = self._reply(body)
        usage = {"prompt_tokens": len(self._prompt(body).split()), "completion_tokens": 1}
        if "messages" in body:
            logprobs = None
            if body.get("logprobs"):
                items = [{"token": t, "logprob": lp} for t, lp in top.items()]
                logprobs = {"content": [{"token": text, "logprob": 0.0, "top_logprobs": items}]}
            choice = {"message": {"role": "assistant", "content": text}, "logprobs": logprobs}
        else:
            logprobs = {"top_logprobs": [top]} if body.get("logprobs") else None
            choice = {"text": text, "logprobs": logprobs}
        return JSONResponse({"choices": [choice], "usage": usage})


@pytest.fixture
def fake_server() -> Iterator[tuple[FakeVLLM, str]]:
    fake = FakeVLLM()
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", fake.handle, methods=["POST"]),
            Route("/v1/completions", fake.handle, methods=["POST"]),
        ]
    )
    with serve_in_thread(app, lifespan="off") as base:
        yield fake, f"{base}/v1"


def test_yes_probability_renormalises_over_yes_and_no() -> None:
    p = yes_probability_from_top({" Yes": math.log(0.6), "no": math.log(0.2), "x": -1}, "")
    assert p == pytest.approx(0.75)
    assert yes_probability_from_top({"maybe": -0.1}, "yes, it does") == 1.0
    assert yes_probability_from_top({}, "nope") == 0.0


async def test_service_on_vllm_sends_capped_concurrent_requests(make_service, fake_server) -> None:
    fake, url = fake_server
    model = VLLMModel(base_url=url, model="fake-7b", concurrency=4, backoff_s=0.01)
    service = await make_service(
        model=model, chunk_tokens=256, ratio=4, compress_concurrency=8, gate_window=8
    )
    doc = await service.create_document("alice", title="t", text=planted_document(40, FACTS))
    doc = await service.wait_ready("alice", doc.doc_id)
    assert doc.status == "ready", doc.error
    compress = [b for b in fake.bodies if "Note budget" in b["messages"][1]["content"]]
    assert len(compress) == doc.n_chunks
    assert all(b["max_tokens"] <= math.ceil(256 / 4) and b["temperature"] == 0 for b in compress)
    assert 1 < fake.max_in_flight <= 4

    fake.bodies.clear()
    result = await service.ask("alice", doc_id=doc.doc_id, question=QUESTION)
    gates = [b for b in fake.bodies if b.get("logprobs")]
    assert gates and all(b["max_tokens"] == 1 and b["top_logprobs"] == 5 for b in gates)
    # instructions and question come first, so every gate call shares the prompt prefix
    assert len({b["messages"][0]["content"] for b in gates}) == 1
    assert all(b["messages"][1]["content"].startswith(f"Question: {QUESTION}") for b in gates)
    memory_calls = [b for b in fake.bodies if "New passage:" in b["messages"][1]["content"]]
    assert all(b["max_tokens"] == 1024 for b in memory_calls)
    assert result.answer == "Mirrowfall"
    assert 2 <= result.chunks_opened < result.chunks_total
    assert result.llm_calls == len(fake.bodies) and result.prompt_tokens > 0


async def test_completions_api_and_retries(fake_server) -> None:
    fake, url = fake_server
    model = VLLMModel(base_url=url, model="m", api="completions", max_retries=2, backoff_s=0.01)
    fake.fail_next = 1
    verdicts = await model.judge(QUESTION, "", ["Quorvane Tesselby met someone.", "rain fell"])
    assert verdicts[0].p_yes > 0.9 and verdicts[1].p_yes < 0.1
    assert isinstance(fake.bodies[-1]["prompt"], str) and fake.bodies[-1]["logprobs"] == 5
    fake.fail_next = 5
    with pytest.raises(LLMError, match="after retries"):
        await model.answer(QUESTION, "memory", max_tokens=16)
    await model.close()
