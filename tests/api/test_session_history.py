"""A session read back keeps what the chat showed with each answer (the web demo's history).

The assistant turn is stored without the memory-only label line; its metadata keeps the
answer mode, the usage log and the trace (citations included), and the session view
reports the feedback given so far.
"""

from __future__ import annotations

import json

from pipeline_support import sse_events

from lycheemem.chat.nodes.finalize import answer_metadata, stored_answer
from lycheemem.domain.prompts import MEMORY_ONLY_HEADER
from lycheemem.domain.turns import MAX_METADATA_BYTES


def _chat(client, headers, session_id: str, message: str) -> dict:
    response = client.post(
        "/chat/complete", json={"session_id": session_id, "message": message}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def _consolidate(client, headers, session_id: str) -> None:
    body = {"session_id": session_id, "background": False}
    response = client.post("/memory/consolidate", json=body, headers=headers)
    assert response.status_code == 200, response.text


def test_memory_only_label_stays_out_of_the_stored_turn(client, make_user) -> None:
    headers = make_user("alice")
    reply = _chat(client, headers, "s1", "What do I drink in the morning?")
    assert reply["response"].startswith(MEMORY_ONLY_HEADER), "the live reply keeps its label"
    turns = client.get("/memory/session/s1", headers=headers).json()["turns"]
    assistant = turns[1]
    assert assistant["role"] == "assistant"
    assert not assistant["content"].startswith("[memory-only mode")
    assert assistant["content"] == "No stored memory matches this question."
    assert assistant["metadata"]["answer"]["mode"] == "memory_only"
    assert turns[0]["metadata"] is None, "user turns carry no answer metadata"


def test_history_keeps_citations_trace_and_feedback(client, make_user) -> None:
    headers = make_user("alice")
    _chat(client, headers, "s1", "I prefer window seats on long flights.")
    _consolidate(client, headers, "s1")
    reply = _chat(client, headers, "s2", "Where do I like to sit on flights?")
    log_id = reply["trace"]["search_coordinator"]["usage_log_id"]
    assert log_id

    view = client.get("/memory/session/s2", headers=headers).json()
    answer = view["turns"][1]["metadata"]["answer"]
    assert answer["usage_log_id"] == log_id
    cited = answer["trace"]["synthesizer"]["provenance"]
    assert cited == reply["trace"]["synthesizer"]["provenance"]
    assert cited, "the answer cited a memory"
    assert set(answer["trace"]) == {"wm_manager", "search_coordinator", "synthesizer", "reasoner"}
    assert view["feedback"] == {}

    body = {"usage_log_id": log_id, "feedback": "negative"}
    assert client.post("/memory/feedback", json=body, headers=headers).status_code == 200
    assert client.get("/memory/session/s2", headers=headers).json()["feedback"] == {
        log_id: "negative"
    }
    body["feedback"] = "positive"
    assert client.post("/memory/feedback", json=body, headers=headers).status_code == 200
    assert client.get("/memory/session/s2", headers=headers).json()["feedback"] == {
        log_id: "positive"
    }


def test_feedback_map_is_per_tenant(client, make_user) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    reply = _chat(client, alice, "s1", "Which editor do I use?")
    log_id = reply["trace"]["search_coordinator"]["usage_log_id"]
    body = {"usage_log_id": log_id, "feedback": "positive"}
    assert client.post("/memory/feedback", json=body, headers=alice).status_code == 200
    _chat(client, bob, "s1", "Which editor do I use?")
    assert client.get("/memory/session/s1", headers=bob).json()["feedback"] == {}
    assert client.get("/memory/session/s1", headers=alice).json()["feedback"] == {
        log_id: "positive"
    }


def test_streamed_answer_is_stored_the_same_way(client, make_user) -> None:
    headers = make_user("alice")
    response = client.post("/chat", json={"session_id": "s1", "message": "hello"}, headers=headers)
    done = [e for e in sse_events(response.text) if e["type"] == "done"][0]
    turn = client.get("/memory/session/s1", headers=headers).json()["turns"][1]
    assert turn["metadata"]["answer"]["trace"]["reasoner"] == done["trace"]["reasoner"]
    assert "[memory-only mode" not in turn["content"]


def test_stored_answer_only_strips_the_leading_label() -> None:
    assert stored_answer(f"{MEMORY_ONLY_HEADER}\nline one\nline two") == "line one\nline two"
    assert stored_answer("A generated answer.") == "A generated answer."
    quoted = f"You said {MEMORY_ONLY_HEADER}"
    assert stored_answer(quoted) == quoted


def test_answer_metadata_fits_the_turn_metadata_limit() -> None:
    provenance = [{"index": 1, "source": "semantic", "record_id": "r1", "score": 0.5}]
    state = {
        "usage_log_id": "log-1",
        "synth_trace": {"background_context": "x" * 40_000, "provenance": provenance},
        "reason_trace": {"response_length": 3, "mode": "memory_only"},
    }
    meta = answer_metadata(state, "memory_only")  # type: ignore[arg-type]
    assert len(json.dumps(meta).encode()) < MAX_METADATA_BYTES
    assert meta["trace"]["synthesizer"]["provenance"] == provenance
    assert meta["trace"]["synthesizer"]["context_cut"] is True
    assert meta["trace"]["reasoner"]["mode"] == "memory_only"
