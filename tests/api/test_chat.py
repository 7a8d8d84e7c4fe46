"""/chat (SSE) and /chat/complete: framing, event order, errors, isolation, bad input."""

from __future__ import annotations

import pytest
from pipeline_support import app_client, register, sse_events

from lycheemem.errors import LLMError
from lycheemem.testing import ScriptedLLM, purpose_script

NEW_ROUTES = [
    ("/chat", {"session_id": "s1", "message": "hi"}),
    ("/chat/complete", {"session_id": "s1", "message": "hi"}),
    ("/memory/smart-search", {"query": "hi"}),
    ("/memory/synthesize", {"user_query": "hi"}),
    ("/memory/reason", {"session_id": "s1", "user_query": "hi"}),
    ("/memory/feedback", {"feedback": "positive", "record_ids": ["x"]}),
]


def test_chat_complete_memory_only_shape(client, make_user) -> None:
    headers = make_user("alice")
    response = client.post(
        "/chat/complete",
        json={"session_id": "s1", "message": "I like green tea."},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {
        "session_id",
        "response",
        "memories_retrieved",
        "wm_token_usage",
        "turn_input_tokens",
        "turn_output_tokens",
        "mode",
        "consolidation_job_id",
        "trace",
    }
    assert body["mode"] == "memory_only" and body["turn_input_tokens"] == 0
    assert body["trace"]["reasoner"]["mode"] == "memory_only"
    session = client.get("/memory/session/s1", headers=headers).json()
    assert [t["role"] for t in session["turns"]] == ["user", "assistant"]


def test_sse_frames_and_event_order(client) -> None:
    response = client.post("/chat", json={"session_id": "s1", "message": "I like green tea."})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    frames = [f for f in response.text.split("\n\n") if f]
    assert all(f.startswith("data: ") and "\n" not in f for f in frames)
    assert "event:" not in response.text
    events = sse_events(response.text)
    steps = [e["step"] for e in events if e["type"] == "step"]
    assert steps == ["wm_manager", "search", "synthesize", "reason"]
    assert events[0]["trace_fragment"].keys() == {"wm_manager"}
    assert events[1]["trace_fragment"].keys() == {"search_coordinator"}
    assert events[2]["trace_fragment"].keys() == {"synthesizer"}
    assert [e["type"] for e in events[-3:]] == ["step", "answer", "done"]
    done = events[-1]
    assert done["session_id"] == "s1" and done["mode"] == "memory_only"
    assert set(done["trace"]) >= {"wm_manager", "search_coordinator", "synthesizer", "reasoner"}


def test_sse_error_event_on_failing_llm_keeps_user_turn(tmp_path) -> None:
    llm = ScriptedLLM(purpose_script({"reason": LLMError("provider down")}))
    with app_client(tmp_path, llm=llm) as client:
        response = client.post("/chat", json={"session_id": "s1", "message": "hi there"})
        events = sse_events(response.text)
        assert events[-1]["type"] == "error"
        assert events[-1]["code"] == "llm_error" and events[-1]["step"] == "reason"
        assert events[-1]["trace_id"] == response.headers["x-trace-id"]
        assert not [e for e in events if e["type"] in ("answer", "done")]
        complete = client.post("/chat/complete", json={"session_id": "s1", "message": "again"})
        assert complete.status_code == 502 and complete.json()["code"] == "llm_error"
        turns = client.get("/memory/session/s1").json()["turns"]
        assert [t["role"] for t in turns] == ["user", "user"]


def test_llm_tokens_stream_and_count(tmp_path) -> None:
    llm = ScriptedLLM(purpose_script({"reason": "Green tea, as you said."}))
    with app_client(tmp_path, llm=llm, auto_consolidate=False) as client:
        response = client.post("/chat", json={"session_id": "s1", "message": "What tea?"})
        events = sse_events(response.text)
        tokens = [e["content"] for e in events if e["type"] == "token"]
        assert len(tokens) > 1 and "".join(tokens) == "Green tea, as you said."
        done = events[-1]
        assert done["mode"] == "llm" and done["turn_output_tokens"] > 0
        metrics = client.get("/metrics").text
        assert 'lycheemem_llm_calls_total{outcome="ok",purpose="reason"} 1.0' in metrics
        assert 'lycheemem_llm_tokens_total{direction="output"}' in metrics
        assert "lycheemem_sse_streams_active 0.0" in metrics
        assert 'lycheemem_jobs{status="queued"}' in metrics


def test_chat_memories_are_isolated_between_users(client, make_user) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    for text in ("My locker code is 4512.", "I park on level 3."):
        client.post(
            "/memory/append-turn",
            json={"session_id": "s1", "role": "user", "content": text},
            headers=alice,
        )
    client.post(
        "/memory/consolidate", json={"session_id": "s1", "background": False}, headers=alice
    )
    mine = client.post(
        "/chat/complete",
        json={"session_id": "s1", "message": "What is my locker code?"},
        headers=alice,
    ).json()
    assert "4512" in mine["response"]
    for headers in (bob, {}):
        other = client.post(
            "/chat/complete",
            json={"session_id": "s1", "message": "What is my locker code?"},
            headers=headers,
        ).json()
        assert "4512" not in other["response"]
        assert other["memories_retrieved"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"session_id": "s1", "message": ""},
        {"session_id": "s1", "message": "   "},
        {"session_id": "bad id", "message": "hi"},
        {"session_id": "a/b", "message": "hi"},
        {"message": "hi"},
        {"session_id": "s1", "message": "x" * 100_001},
    ],
)
def test_chat_rejects_bad_input_before_streaming(client, body) -> None:
    for path in ("/chat", "/chat/complete"):
        response = client.post(path, json=body)
        assert response.status_code == 422, (path, body)
        assert response.json()["code"] == "validation_error"


@pytest.mark.parametrize(("path", "body"), NEW_ROUTES)
def test_new_routes_reject_invalid_tokens(client, path, body) -> None:
    response = client.post(path, json=body, headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401 and response.json()["code"] == "invalid_token"


@pytest.mark.parametrize(("path", "body"), NEW_ROUTES)
def test_new_routes_require_auth_when_configured(tmp_path, path, body) -> None:
    with app_client(tmp_path, require_auth=True) as client:
        response = client.post(path, json=body)
        assert response.status_code == 401 and response.json()["code"] == "auth_required"
        headers = register(client, "carol")
        ok = client.post(path, json=body, headers=headers)
        assert ok.status_code in (200, 404), ok.text


def test_memory_only_answers_are_not_consolidated(client, make_user) -> None:
    """The memory-only reply reads stored memories back; it must not become memory itself."""
    headers = make_user("alice")
    procedure = (
        "How I deploy the blog:\n1. Run make build\n2. Push the image to the registry\n"
        "3. Restart the blog service"
    )
    for message in (procedure, "How do I deploy the blog?"):
        reply = client.post(
            "/chat/complete", json={"session_id": "s1", "message": message}, headers=headers
        )
        assert reply.status_code == 200, reply.text
    # Whatever the background job already took, this consumes the rest up to the last turn.
    done = client.post(
        "/memory/consolidate", json={"session_id": "s1", "background": False}, headers=headers
    ).json()
    assert done["status"] in ("done", "skipped"), done
    # "skipped" (no new turns) when the automatic job had already consumed both turns.
    session = client.get("/memory/session/s1", headers=headers).json()
    assert session["consolidated_until"] == 4, (done, session["consolidated_until"])
    skills = client.get("/memory/skills", headers=headers).json()["skills"]
    assert [s["intent"] for s in skills] == ["How I deploy the blog"]
    records = client.get("/memory/records", params={"limit": 100}, headers=headers).json()
    texts = " ".join(r["semantic_text"] for r in records["items"])
    assert "memory-only mode" not in texts and "Memories related" not in texts
    assert "make build" in texts
