"""What any ``SemanticStore`` must do, run against SQLite (FTS5) and PostgreSQL (tsvector).

Each test gets a fresh store set: a real SQLite file in a tmp dir, or a fresh database on the
session's real PostgreSQL (tests/pg_support.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from lycheemem.domain.models import BatchCommit, CompositeRecord, Skill, Turn, UsageLog
from lycheemem.domain.text.terms import composite_id_for
from lycheemem.storage.postgres.database import PgDatabase
from lycheemem.storage.postgres.semantic import PgSemanticStore
from lycheemem.storage.postgres.sessions import PgSessionStore
from lycheemem.storage.postgres.usage import PgUsageStore
from lycheemem.storage.sqlite.database import Database
from lycheemem.storage.sqlite.semantic import SqliteSemanticStore
from lycheemem.storage.sqlite.sessions import SqliteSessionStore
from lycheemem.storage.sqlite.usage import SqliteUsageStore
from lycheemem.testing import make_record

pytestmark = pytest.mark.anyio
T0 = "2026-03-01T10:00:00.000Z"
T1 = "2026-03-01T11:00:00.000Z"


@dataclass
class Semantic:
    """One backend's session, semantic and usage stores, and how to await background writes."""

    sessions: Any
    semantic: Any
    usage: Any
    drain: Callable[[], Awaitable[None]]


@pytest.fixture(params=["sqlite", "postgres"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Semantic]:
    """A fresh, empty store set of the parametrised backend."""
    if request.param == "sqlite":
        db = Database(tmp_path / "x.db")
        await db.open()
        semantic = SqliteSemanticStore(db)
        yield Semantic(SqliteSessionStore(db), semantic, SqliteUsageStore(db), db.drain)
        await db.close()
        return
    pg = PgDatabase(request.getfixturevalue("pg_url"), max_size=4)
    await pg.open()
    store = PgSemanticStore(pg)
    yield Semantic(PgSessionStore(pg), store, PgUsageStore(pg), store.drain)
    await store.drain()
    await pg.close()


async def _session(s: Semantic, user: str, session: str = "s1") -> None:
    turn = Turn(user, session, -1, "user", "hello", T0, token_count=1)
    await s.sessions.append_turn(turn, now=T0)


async def _commit(s: Semantic, user: str, *records: Any, **extra: Any) -> Any:
    fields: dict[str, Any] = {"watermark": 1, "now": T1, **extra}
    return await s.semantic.commit_batch(
        BatchCommit(user_id=user, session_id="s1", records=list(records), **fields)
    )


def _ids(hits: list[Any]) -> list[str]:
    return [hit.item_id for hit in hits]


async def test_items_round_trip_and_stay_with_their_tenant(stores: Semantic) -> None:
    await _session(stores, "alice")
    record = make_record(
        "alice", "Alice deploys with git", entities=["Git"], tool_tags=["git"], confidence=0.9
    )
    skill = Skill("sk1", "alice", "deploy", "1. push", T0, T0, metadata={"k": [1]})
    composite = CompositeRecord(
        composite_id=composite_id_for("alice", [record.record_id]),
        user_id="alice",
        memory_type="fact",
        semantic_text="deployment habits",
        normalized_text="deployment habits",
        created_at=T0,
        updated_at=T0,
        source_record_ids=[record.record_id],
    )
    result = await _commit(stores, "alice", record, composites=[(composite, [])], skills=[skill])
    assert result.composites_expired == [] and not result.session_missing
    s = stores.semantic
    got = (await s.records("alice", [record.record_id, "missing"]))[record.record_id]
    assert got == record
    assert (await s.composites("alice", [composite.composite_id]))[composite.composite_id] == (
        composite
    )
    assert (await s.skills("alice", ["sk1"]))["sk1"] == skill
    records, columns = await s.records_with_fts("alice", [record.record_id])
    assert "git" in columns[record.record_id][0].split() and records[record.record_id] == record
    assert await s.covering("alice", [record.record_id]) == {
        record.record_id: [composite.composite_id]
    }
    # user B sees nothing of A on any path
    assert await s.records("bob", [record.record_id]) == {}
    assert await s.composites("bob", [composite.composite_id]) == {}
    assert await s.skills("bob", ["sk1"]) == {}
    assert await s.covering("bob", [record.record_id]) == {}
    assert await s.fts("bob", "git deploys", table="memory_records", limit=5) == []
    assert await s.tags("bob", {"tool": ["git"]}, 5) == []
    assert await s.follow_ups("bob", "s1", -1, 3, 5) == []
    assert await s.term_stats("bob", ["git"]) == (0, {"git": 0})
    assert (await s.commit_batch(BatchCommit("bob", "s1", 1, now=T1))).session_missing


async def test_fts_ranks_the_item_matching_more_terms_first_and_stems(stores: Semantic) -> None:
    await _session(stores, "u")
    one = make_record("u", "The weekly report goes out on Friday")
    both = make_record("u", "Postgres replication lag broke the weekly report")
    other = make_record("u", "Lunch is at noon")
    await _commit(stores, "u", one, both, other)
    s = stores.semantic
    hits = await s.fts("u", "postgres replication report", table="memory_records", limit=5)
    assert _ids(hits) == [both.record_id, one.record_id]
    assert [hit.rank for hit in hits] == [0, 1]
    stemmed = await s.fts("u", "reports replicated", table="memory_records", limit=5)
    assert _ids(stemmed)[0] == both.record_id
    assert await s.fts("u", "the and of", table="memory_records", limit=5) == []
    typed = await s.fts(
        "u", "weekly report", table="memory_records", limit=5, memory_types=["procedure"]
    )
    assert typed == []


async def test_fts_finds_chinese_text(stores: Semantic) -> None:
    await _session(stores, "u")
    apple = make_record("u", "我喜欢吃苹果和香蕉")
    tea = make_record("u", "她每天早上喝绿茶")
    await _commit(stores, "u", apple, tea)
    hits = await stores.semantic.fts("u", "喜欢吃苹果", table="memory_records", limit=5)
    assert _ids(hits) == [apple.record_id]
    hits = await stores.semantic.fts("u", "谁喝绿茶?", table="memory_records", limit=5)
    assert _ids(hits) == [tea.record_id]


async def test_a_superseded_record_leaves_full_text_but_keeps_its_history(
    stores: Semantic,
) -> None:
    await _session(stores, "u")
    old = make_record("u", "Bob lives in Berlin")
    await _commit(stores, "u", old)
    new = make_record("u", "Bob lives in Munich now", version=2, history=[{"text": "Berlin"}])
    gone = replace(old, expired=True, expired_at=T1, expired_reason="superseded")
    gone.superseded_by = new.record_id
    await _commit(stores, "u", gone, new, watermark=2)
    s = stores.semantic
    assert _ids(await s.fts("u", "where does Bob live", table="memory_records", limit=5)) == [
        new.record_id
    ]
    stored = (await s.records("u", [old.record_id]))[old.record_id]
    assert stored.expired and stored.superseded_by == new.record_id
    assert (await s.records("u", [new.record_id]))[new.record_id].history == [{"text": "Berlin"}]
    assert (await stores.sessions.get("u", "s1")).consolidated_until == 2


async def test_commit_batch_is_all_or_nothing(stores: Semantic) -> None:
    await _session(stores, "u")
    good = make_record("u", "A fact that must not land alone")
    bad = make_record("u", "A fact that cannot be stored", history=[{"x": object()}])
    with pytest.raises(Exception):  # noqa: B017 - each backend raises its own serialisation error
        await _commit(stores, "u", good, bad, watermark=5)
    assert await stores.semantic.records("u", [good.record_id]) == {}
    assert (await stores.sessions.get("u", "s1")).consolidated_until == 0


async def test_covering_composites_expire_with_their_members(stores: Semantic) -> None:
    await _session(stores, "u")
    a, b = make_record("u", "fact a"), make_record("u", "fact b")
    comp = CompositeRecord(
        composite_id=composite_id_for("u", [a.record_id, b.record_id]),
        user_id="u",
        memory_type="fact",
        semantic_text="a and b",
        normalized_text="a and b",
        created_at=T0,
        updated_at=T0,
        source_record_ids=[a.record_id, b.record_id],
    )
    await _commit(stores, "u", a, b, composites=[(comp, [a.record_id])])
    result = await _commit(stores, "u", expire_covering=[a.record_id])
    assert result.composites_expired == [comp.composite_id]
    assert await stores.semantic.covering("u", [a.record_id, b.record_id]) == {}
    assert (await stores.semantic.composites("u", [comp.composite_id]))[comp.composite_id].expired


async def test_term_stats_count_documents_per_term(stores: Semantic) -> None:
    await _session(stores, "u")
    texts = ["python scripts", "python tests", "rust and python", "python notes"]
    records = [make_record("u", text) for text in texts]
    records[3] = replace(records[3], expired=True)
    await _commit(stores, "u", *records)
    await _session(stores, "v")
    await _commit(stores, "v", make_record("v", "python elsewhere"))
    total, counts = await stores.semantic.term_stats("u", ["python", "rust", "haskell"])
    assert total == 3
    assert counts == {"python": 4, "rust": 1, "haskell": 0}


async def test_follow_ups_and_temporal_windows(stores: Semantic) -> None:
    await _session(stores, "u")
    by_turn = [make_record("u", f"said in turn {n}", source_turn_ids=[n]) for n in (1, 2, 3, 5)]
    dated = make_record("u", "the trip", temporal=by_turn[0].temporal.__class__("2026-04-10"))
    spanning = make_record(
        "u",
        "the conference week",
        temporal=by_turn[0].temporal.__class__(None, "2026-04-08", "2026-04-12"),
    )
    outside = make_record("u", "last year", temporal=by_turn[0].temporal.__class__("2025-01-01"))
    undated = make_record("u", "undated note", created_at="2026-04-10T09:00:00.000Z")
    expired = replace(make_record("u", "expired in window", temporal=dated.temporal), expired=True)
    await _commit(stores, "u", *by_turn, dated, spanning, outside, undated, expired)
    s = stores.semantic
    ids = [r.record_id for r in by_turn]
    assert await s.follow_ups("u", "s1", 1, 2, 10) == ids[1:3]
    assert await s.follow_ups("u", "s1", 1, 2, 1) == ids[1:2]
    assert await s.follow_ups("u", "other", 1, 2, 10) == []
    window = await s.temporal("u", "2026-04-10T00:00:00.000Z", "2026-04-11T23:59:59.999Z", 10)
    assert window == [
        (dated.record_id, "record"),
        (spanning.record_id, "record"),
        (undated.record_id, "record"),
    ]


async def test_tags_match_case_insensitively_and_skip_expired(stores: Semantic) -> None:
    await _session(stores, "u")
    both = make_record("u", "uses git on linux", tool_tags=["Git"], constraint_tags=["linux"])
    one = make_record("u", "uses git", tool_tags=["git"])
    gone = replace(make_record("u", "old git", tool_tags=["git"]), expired=True)
    await _commit(stores, "u", both, one, gone)
    hits = await stores.semantic.tags("u", {"tool": ["GIT "], "constraint": ["Linux"]}, 5)
    assert hits == [
        (both.record_id, "record", {"git", "linux"}),
        (one.record_id, "record", {"git"}),
    ]


async def test_skipped_turns_move_the_watermark(stores: Semantic) -> None:
    await _session(stores, "u")
    s = stores.semantic
    await s.skip_turn(user_id="u", session_id="s1", turn_index=3, job_id="j", error="boom", now=T0)
    await s.skip_turn(user_id="u", session_id="gone", turn_index=1, job_id="j", error="x", now=T0)
    skipped = await s.skipped_turns("u")
    assert skipped["count"] == 1
    assert skipped["recent"] == [
        {"session_id": "s1", "turn_index": 3, "job_id": "j", "error": "boom", "created_at": T0}
    ]
    assert (await stores.sessions.get("u", "s1")).consolidated_until == 4
    assert (await s.skipped_turns("other"))["count"] == 0
    await s.mark_indexed(record_ids=["none"], composite_ids=[], skill_ids=[])


async def test_retrieval_logs_are_written_in_the_background_and_feedback_counts_once(
    stores: Semantic,
) -> None:
    await _session(stores, "u")
    kept, seen = make_record("u", "kept fact"), make_record("u", "seen fact")
    await _commit(stores, "u", kept, seen)
    entry = UsageLog(
        "log1",
        "u",
        "s1",
        T1,
        "query",
        "action",
        plan={"mode": "action"},
        retrieved_ids=[kept.record_id, seen.record_id],
        kept_ids=[kept.record_id],
    )
    assert stores.semantic.record_retrieval_nowait(entry, [], T1)
    await stores.drain()
    usage = stores.usage
    stored = await usage.get("u", "log1")
    assert stored is not None and stored.plan == {"mode": "action"}
    assert await usage.get("other", "log1") is None
    counted = await stores.semantic.records("u", [kept.record_id, seen.record_id])
    assert counted[kept.record_id].retrieval_hit_count == 1
    assert counted[seen.record_id].retrieval_count == 1
    assert counted[kept.record_id].last_retrieved_at == T1
    labelled = await usage.label_latest_unresolved(
        "u", "s1", since=T0, feedback="positive", outcome="success", now=T1
    )
    assert labelled == ("log1", [kept.record_id])
    assert (
        await usage.label_latest_unresolved(
            "u", "s1", since=T0, feedback="positive", outcome="success", now=T1
        )
        is None
    )
    # relabelling reverts the first label's counter before applying the new one
    assert await usage.label_explicit(
        "u",
        usage_log_id="log1",
        session_id=None,
        record_ids=None,
        feedback="negative",
        outcome="fail",
        note="wrong",
        now=T1,
    ) == ("log1", [kept.record_id])
    item = (await stores.semantic.records("u", [kept.record_id]))[kept.record_id]
    assert (item.action_success_count, item.action_fail_count) == (0, 1)
    await usage.set_response_excerpt("u", "log1", "the answer")
    stored = await usage.get("u", "log1")
    assert stored.response_excerpt == "the answer" and stored.feedback_note == "wrong"
    assert await usage.session_feedback("u", "s1") == {"log1": "negative"}
    assert await usage.session_feedback("other", "s1") == {}


async def test_feedback_targets_must_be_the_callers(stores: Semantic) -> None:
    from lycheemem.errors import RecordNotFound, UsageLogNotFound

    await _session(stores, "u")
    record = make_record("u", "a fact")
    await _commit(stores, "u", record)
    explicit = {"feedback": "positive", "outcome": "success", "note": None, "now": T1}
    with pytest.raises(UsageLogNotFound):
        await stores.usage.label_explicit(
            "u", usage_log_id="nope", session_id=None, record_ids=None, **explicit
        )
    with pytest.raises(RecordNotFound):
        await stores.usage.label_explicit(
            "other", usage_log_id=None, session_id=None, record_ids=[record.record_id], **explicit
        )
    assert await stores.usage.label_explicit(
        "u", usage_log_id=None, session_id=None, record_ids=[record.record_id], **explicit
    ) == (None, [record.record_id])
    item = (await stores.semantic.records("u", [record.record_id]))[record.record_id]
    assert item.action_success_count == 1


async def test_fts_weighs_rare_terms_above_common_ones(stores: Semantic) -> None:
    await _session(stores, "u")
    common = [make_record("u", f"coffee note {n}") for n in range(5)]
    rare = make_record("u", "an espresso machine manual with many more words in it")
    await _commit(stores, "u", *common, rare)
    hits = await stores.semantic.fts("u", "coffee espresso", table="memory_records", limit=10)
    assert _ids(hits)[0] == rare.record_id and len(hits) == 6


async def test_crowded_fts_ranks_full_matches_then_newest_partial_ones(stores: Semantic) -> None:
    await _session(stores, "u")
    full = make_record("u", "alpha beta together")
    await _commit(stores, "u", full)
    alpha = make_record("u", "alpha alone")
    await _commit(stores, "u", alpha)
    beta = make_record("u", "beta alone")
    await _commit(stores, "u", beta)
    hits = await stores.semantic.fts(
        "u", "alpha beta", table="memory_records", limit=3, crowded=True
    )
    assert _ids(hits) == [full.record_id, beta.record_id, alpha.record_id]


async def test_concurrent_batches_of_two_sessions_updating_the_same_records_both_commit(
    stores: Semantic,
) -> None:
    """Two replicas consolidating two sessions of one tenant at once may write the same
    records in opposite orders; both batches must commit (no deadlock), every round."""
    s = stores
    await _session(s, "alice", "s1")
    await _session(s, "alice", "s2")
    records = [make_record("alice", f"Shared fact number {n} about the garden.") for n in range(40)]
    for round_ in range(3):
        batches = [
            BatchCommit("alice", session, round_ + 1, records=list(order), now=T1)
            for session, order in (("s1", records), ("s2", records[::-1]))
        ]
        results = await asyncio.gather(*(s.semantic.commit_batch(b) for b in batches))
        assert not any(result.session_missing for result in results)
    stored = await s.semantic.records("alice", [r.record_id for r in records])
    assert len(stored) == len(records)


async def test_a_record_written_twice_in_one_batch_ends_as_its_last_version(
    stores: Semantic,
) -> None:
    await _session(stores, "u")
    first = make_record("u", "uses a tool", tool_tags=["git"], confidence=0.5)
    last = replace(first, tool_tags=["hg"], confidence=0.9, version=2)
    await _commit(stores, "u", first, last)
    stored = (await stores.semantic.records("u", [first.record_id]))[first.record_id]
    assert (stored.tool_tags, stored.confidence, stored.version) == (["hg"], 0.9, 2)
    assert await stores.semantic.tags("u", {"tool": ["git"]}, 5) == []
    assert await stores.semantic.tags("u", {"tool": ["hg"]}, 5) == [
        (first.record_id, "record", {"hg"})
    ]
