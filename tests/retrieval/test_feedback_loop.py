"""The feedback loop: implicit labels from the next user turn, explicit labels override them."""

from __future__ import annotations

from typing import Any

import pytest

from lycheemem.domain.text.cues import classify_feedback
from lycheemem.errors import RecordNotFound, UsageLogNotFound, ValidationFailed

pytestmark = pytest.mark.anyio
FACTS = [
    "To deploy the billing api, run docker compose up with the prod profile.",
    "Deploying the billing api must happen after the database migration.",
]
QUERY = "How do I deploy the billing api with docker?"


async def _seed(ctx: Any, user: str = "") -> None:
    for fact in FACTS:
        await ctx.service.append_turn(user_id=user, session_id="seed", role="user", content=fact)
    await ctx.service.consolidate(user_id=user, session_id="seed", background=False)


async def _counts(ctx: Any, ids: list[str], user: str = "") -> dict[str, tuple[int, int]]:
    records = await ctx.service.semantic.records(user, ids)
    return {i: (r.action_success_count, r.action_fail_count) for i, r in records.items()}


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Thanks, that worked!", ("positive", "success")),
        ("It still failed with the same error", ("negative", "fail")),
        ("Actually, it should be port 8080", ("correction", "fail")),
        ("成功了，谢谢", ("positive", "success")),
        ("还是报错", ("negative", "fail")),
        ("不对，应该是另一个", ("correction", "fail")),
        ("What about tomorrow?", None),
    ],
)
def test_cues_classify_conservatively(text: str, label: tuple[str, str] | None) -> None:
    assert classify_feedback(text) == label


async def test_next_user_turn_labels_the_last_action_retrieval(open_context) -> None:
    ctx = await open_context(auto_consolidate=False)
    await _seed(ctx)
    first = await ctx.service.chat(user_id="", session_id="s1", message=QUERY)
    search = first["trace"]["search_coordinator"]
    assert search["search_mode"] in ("action", "mixed")
    kept = [m["node_id"] for m in search["graph_memories"]]
    assert kept
    second = await ctx.service.chat(user_id="", session_id="s1", message="That worked, thanks!")
    update = second["trace"]["search_coordinator"]["feedback_update"]
    assert update == {
        "usage_log_id": search["usage_log_id"],
        "feedback": "positive",
        "outcome": "success",
    }
    assert all(c == (1, 0) for c in (await _counts(ctx, kept)).values())
    # already labelled: a second cue does not count again
    await ctx.service.chat(user_id="", session_id="s1", message="It worked great")
    log = await ctx.chat.context.feedback.get_log(user_id="", log_id=search["usage_log_id"])
    assert log.feedback_source == "implicit" and log.action_outcome == "success"


async def test_append_turn_applies_implicit_feedback(open_context) -> None:
    ctx = await open_context(auto_consolidate=False)
    await _seed(ctx)
    outcome = await ctx.service.search(user_id="", query=QUERY, session_id="s2")
    assert outcome.plan.mode in ("action", "mixed")
    # the search's usage log belongs to session s2, so a user turn there labels it
    await ctx.service.append_turn(
        user_id="", session_id="s2", role="user", content="It failed with an error"
    )
    kept = [p["record_id"] for p in outcome.provenance]
    assert all(c == (0, 1) for c in (await _counts(ctx, kept)).values())


async def test_explicit_feedback_replaces_the_implicit_label(open_context) -> None:
    ctx = await open_context(auto_consolidate=False)
    await _seed(ctx)
    first = await ctx.service.chat(user_id="", session_id="s1", message=QUERY)
    log_id = first["trace"]["search_coordinator"]["usage_log_id"]
    kept = [m["node_id"] for m in first["trace"]["search_coordinator"]["graph_memories"]]
    await ctx.service.chat(user_id="", session_id="s1", message="That failed again")
    assert all(c == (0, 1) for c in (await _counts(ctx, kept)).values())
    result = await ctx.service.feedback(
        user_id="", usage_log_id=log_id, feedback="positive", note="it was fine"
    )
    assert result["status"] == "recorded" and result["outcome"] == "success"
    assert sorted(result["updated_ids"]) == sorted(kept)
    assert all(c == (1, 0) for c in (await _counts(ctx, kept)).values())
    log = await ctx.chat.context.feedback.get_log(user_id="", log_id=log_id)
    assert (log.feedback_source, log.user_feedback, log.feedback_note) == (
        "explicit",
        "positive",
        "it was fine",
    )
    # relabelling explicitly never double counts
    await ctx.service.feedback(user_id="", usage_log_id=log_id, feedback="positive")
    assert all(c == (1, 0) for c in (await _counts(ctx, kept)).values())


async def test_explicit_feedback_errors_and_isolation(open_context) -> None:
    ctx = await open_context(auto_consolidate=False)
    await _seed(ctx, user="alice")
    outcome = await ctx.service.search(user_id="alice", query=QUERY, session_id="s1")
    with pytest.raises(UsageLogNotFound):
        await ctx.service.feedback(
            user_id="bob", usage_log_id=outcome.usage_log_id, feedback="positive"
        )
    with pytest.raises(UsageLogNotFound):
        await ctx.service.feedback(user_id="alice", session_id="nope", feedback="negative")
    with pytest.raises(ValidationFailed):
        await ctx.service.feedback(user_id="alice", feedback="positive")
    with pytest.raises(ValidationFailed):
        await ctx.service.feedback(user_id="alice", feedback="meh", record_ids=["x"])
    kept = [p["record_id"] for p in outcome.provenance]
    with pytest.raises(RecordNotFound):
        await ctx.service.feedback(user_id="bob", feedback="positive", record_ids=kept[:1])
    done = await ctx.service.feedback(user_id="alice", feedback="negative", record_ids=kept[:1])
    assert done["usage_log_id"] is None and done["updated_ids"] == kept[:1]
    assert (await _counts(ctx, kept[:1], user="alice"))[kept[0]] == (0, 1)
