"""POST /memory/reason: memory-only summary, session appends, LLM budget and errors."""

from __future__ import annotations

from pipeline_support import app_client

from lycheemem.errors import LLMError
from lycheemem.testing import ScriptedLLM, purpose_script

HEADER = "[memory-only mode: no language model is configured;"


def test_memory_only_reason_appends_both_turns(client, make_user) -> None:
    headers = make_user("alice")
    body = client.post(
        "/memory/reason",
        json={
            "session_id": "s1",
            "user_query": "What seat?",
            "background_context": "[1] (preference) Alice prefers window seats.",
            "skill_reuse_plan": [{"skill_id": "k1", "intent": "Book a seat"}],
        },
        headers=headers,
    ).json()
    assert body["mode"] == "memory_only" and body["response"] == body["final_response"]
    assert body["response"].startswith(HEADER)
    assert "Alice prefers window seats." in body["response"] and "- Book a seat" in body["response"]
    assert body["turn_input_tokens"] == 0 and body["wm_token_usage"] > 0
    turns = client.get("/memory/session/s1", headers=headers).json()["turns"]
    assert [t["role"] for t in turns] == ["user", "assistant"]
    assert client.get("/memory/session/s1").status_code == 404


def test_reason_without_append_reads_only(client) -> None:
    body = client.post(
        "/memory/reason",
        json={"session_id": "ghost", "user_query": "q", "append_to_session": False},
    ).json()
    assert body["response"].endswith("No context was provided.")
    assert body["wm_token_usage"] == 0
    assert client.get("/memory/session/ghost").status_code == 404


def test_retrieved_skills_used_only_when_reusable(client) -> None:
    body = client.post(
        "/memory/reason",
        json={
            "session_id": "s1",
            "user_query": "q",
            "append_to_session": False,
            "retrieved_skills": [
                {"skill_id": "a", "intent": "Reusable one", "reusable": True},
                {"skill_id": "b", "intent": "Not this", "reusable": False},
            ],
        },
    ).json()
    assert "Reusable one" in body["response"] and "Not this" not in body["response"]


def test_llm_reason_makes_one_call_and_sees_history(tmp_path) -> None:
    llm = ScriptedLLM(purpose_script({"reason": "Window, per [1]."}))
    with app_client(tmp_path, llm=llm) as client:
        client.post(
            "/memory/append-turn",
            json={"session_id": "s1", "role": "user", "content": "Earlier message"},
        )
        body = client.post(
            "/memory/reason",
            json={
                "session_id": "s1",
                "user_query": "What seat?",
                "background_context": "[1] Alice prefers window seats.",
            },
        ).json()
        assert body["response"] == "Window, per [1]." and body["mode"] == "llm"
        assert llm.purposes() == ["reason"]
        messages = llm.calls[0].messages
        assert "[1] Alice prefers window seats." in messages[0]["content"]
        assert [m["content"] for m in messages[1:]] == ["Earlier message", "What seat?"]
        assert body["turn_input_tokens"] > 0
        last = client.get("/pipeline/last-consolidation?session_id=s1").json()
        assert last["status"] == "none"  # reason never enqueues consolidation


def test_llm_failure_is_502_and_keeps_user_turn(tmp_path) -> None:
    llm = ScriptedLLM(purpose_script({"reason": LLMError("down")}))
    with app_client(tmp_path, llm=llm) as client:
        response = client.post("/memory/reason", json={"session_id": "s1", "user_query": "q"})
        assert response.status_code == 502 and response.json()["code"] == "llm_error"
        turns = client.get("/memory/session/s1").json()["turns"]
        assert [t["role"] for t in turns] == ["user"]


def test_reason_bad_input(client) -> None:
    too_many = [{"skill_id": f"k{n}"} for n in range(11)]
    for body in (
        {"session_id": "s1", "user_query": ""},
        {"session_id": "s 1", "user_query": "q"},
        {"session_id": "s1", "user_query": "q", "skill_reuse_plan": too_many},
        {"session_id": "s1", "user_query": "q", "background_context": "x" * 200_001},
    ):
        assert client.post("/memory/reason", json=body).status_code == 422, body
