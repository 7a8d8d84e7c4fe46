"""The real litellm provider end to end against a fake OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pipeline_support import app_client, sse_events

ANSWER = "You prefer window seats [1]."


def _reply_for(body: dict[str, Any]) -> str:
    system = body["messages"][0]["content"]
    if "long-term memory records" in system:
        user = body["messages"][-1]["content"]
        batch = user.split("BATCH TURNS:", 1)[1].split("KNOWN MEMORIES:", 1)[0]
        lines = [
            line.split("] ", 1)[1]
            for line in batch.strip().splitlines()
            if re.match(r"\[\d+ user\b", line)
        ]
        records = [
            {
                "memory_type": "preference",
                "semantic_text": text,
                "normalized_text": text.lower(),
                "source_turn_indexes": [0],
            }
            for text in lines
        ]
        return json.dumps({"has_novelty": True, "records": records, "skills": []})
    if "You maintain a memory store" in system:
        return json.dumps({"decisions": [], "composites": []})
    return ANSWER


class _FakeOpenAI(BaseHTTPRequestHandler):
    requests: list[dict[str, Any]] = []

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        return

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "body": body})
        text = _reply_for(body)
        usage = {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49}
        if body.get("stream"):
            self._stream(text, usage)
            return
        payload = {
            "id": "cmpl-1",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": text},
                }
            ],
            "usage": usage,
        }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, text: str, usage: dict[str, int]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        base = {
            "id": "cmpl-2",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": "fake-model",
        }
        for word in text.split(" "):
            chunk = {
                **base,
                "choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}],
            }
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        final = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        self.wfile.write(f"data: {json.dumps(final)}\n\n".encode())
        self.wfile.write(
            f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n".encode()
        )
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


@pytest.fixture
def fake_openai() -> Iterator[str]:
    _FakeOpenAI.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_chat_and_consolidation_through_litellm(tmp_path, fake_openai) -> None:
    settings = {
        "llm_model": "openai/fake-model",
        "llm_api_base": fake_openai,
        "llm_api_key": "sk-test-not-real",
        "llm_max_retries": 0,
        "auto_consolidate": False,
    }
    with app_client(tmp_path, **settings) as client:
        client.post(
            "/memory/append-turn",
            json={
                "session_id": "s1",
                "role": "user",
                "content": "I prefer window seats on long flights.",
            },
        )
        done = client.post("/memory/consolidate", json={"session_id": "s1", "background": False})
        result = done.json()
        assert result["status"] == "done", result
        assert result["records_added"] == 1 and result["llm_calls"] == 1

        response = client.post(
            "/chat", json={"session_id": "s1", "message": "Which seats do I prefer on flights?"}
        )
        events = sse_events(response.text)
        tokens = [e["content"] for e in events if e["type"] == "token"]
        assert len(tokens) >= 3
        assert events[-2] == {"type": "answer", "content": "".join(tokens)}
        assert "".join(tokens).strip() == ANSWER
        finished = events[-1]
        assert finished["type"] == "done" and finished["mode"] == "llm"
        assert (finished["turn_input_tokens"], finished["turn_output_tokens"]) == (42, 7)
        assert "window seats" in finished["trace"]["synthesizer"]["background_context"]

        streamed = [r for r in _FakeOpenAI.requests if r["body"].get("stream")]
        assert len(streamed) == 1
        system = streamed[0]["body"]["messages"][0]["content"]
        assert "window seats" in system and "<memories>" in system
        assert [r["path"] for r in _FakeOpenAI.requests] == ["/v1/chat/completions"] * 2
        metrics = client.get("/metrics").text
        assert 'lycheemem_llm_tokens_total{direction="input"} 84.0' in metrics
