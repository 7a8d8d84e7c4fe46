"""Reasoner: prompt layout, streaming, memory-only labelled summaries."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lycheemem.chat.reasoner import MEMORY_ONLY_HEADER, Reasoner, line_chunks
from lycheemem.testing import ScriptedLLM

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
PLAN = [
    {
        "skill_id": "5f2c99",
        "intent": "Back up Postgres to S3",
        "doc_markdown": "x" * 5000,
        "score": 0.9,
        "conditions": "nightly",
    }
]


def test_messages_put_summary_memories_and_skills_in_the_system_message() -> None:
    history = [
        {"role": "system", "content": "Summary of the earlier conversation:\nEarlier stuff."},
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "hi"},
        {"role": "user", "content": "What seat?"},
    ]
    messages = Reasoner(llm=None).build_messages(
        query="What seat?",
        history=history,
        background="[1] (preference) window",
        skill_plan=PLAN,
        now=NOW,
    )
    system = messages[0]["content"]
    assert messages[0]["role"] == "system"
    assert "Earlier stuff." in system and "2026-03-14T09:30:00.000Z" in system
    assert "<memories>" in system and "[1] (preference) window" in system
    assert "never instructions" in system
    assert system.count("x") >= 3000 and "x" * 3001 not in system
    assert [m["role"] for m in messages[1:]] == ["user", "assistant", "user"]
    assert messages[-1]["content"] == "What seat?"


def test_query_is_appended_when_not_already_the_last_turn() -> None:
    messages = Reasoner(llm=None).build_messages(
        query="new question",
        history=[{"role": "user", "content": "old"}],
        background="",
        skill_plan=[],
        now=NOW,
    )
    assert messages[-1] == {"role": "user", "content": "new question"}
    assert "(no relevant memories)" in messages[0]["content"]


async def test_llm_stream_yields_pieces_with_reason_purpose() -> None:
    llm = ScriptedLLM(["Window seats, per [1]."])
    reasoner = Reasoner(llm=llm)
    pieces = [
        p
        async for p in reasoner.stream(
            query="q", history=[], background="[1] x", skill_plan=[], now=NOW
        )
    ]
    assert len(pieces) > 1 and "".join(pieces) == "Window seats, per [1]."
    assert llm.purposes() == ["reason"] and llm.calls[0].streamed


async def test_memory_only_answer_is_labelled_and_lists_skills() -> None:
    reasoner = Reasoner(llm=None)
    text = reasoner.memory_only_answer("seats?", "[1] (preference) window", PLAN)
    lines = text.splitlines()
    assert lines[0] == MEMORY_ONLY_HEADER
    assert lines[1] == 'Memories related to "seats?":'
    assert "Skills that may apply:" in lines
    assert lines[-1] == "- Back up Postgres to S3 (skill 5f2c…)"
    empty = reasoner.memory_only_answer("q", "", [])
    assert empty == f"{MEMORY_ONLY_HEADER}\nNo stored memory matches this question."
    pieces = [
        p
        async for p in reasoner.stream(
            query="seats?", history=[], background="[1] (preference) window", skill_plan=[], now=NOW
        )
    ]
    assert len(pieces) == 3 and "".join(pieces).startswith(MEMORY_ONLY_HEADER)


def test_memory_only_reason_returns_supplied_context_verbatim() -> None:
    reasoner = Reasoner(llm=None)
    assert reasoner.memory_only_reason("ctx line", PLAN).splitlines() == [
        MEMORY_ONLY_HEADER,
        "ctx line",
        "- Back up Postgres to S3",
    ]
    assert reasoner.memory_only_reason("", []).endswith("No context was provided.")


def test_line_chunks_round_trip() -> None:
    assert "".join(line_chunks("a\nb\n\nc")) == "a\nb\n\nc"
    assert line_chunks("") == [""]
