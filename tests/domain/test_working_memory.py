"""Working memory: dual thresholds, compression in both modes, rendering under the cap."""

from __future__ import annotations

import asyncio

import pytest

from lycheemem.clock import Clock
from lycheemem.domain.models import Turn
from lycheemem.domain.working_memory.manager import WMConfig, WorkingMemoryManager
from lycheemem.providers.tokens import EstimatingTokenCounter
from lycheemem.storage.sqlite.database import Database
from lycheemem.storage.sqlite.sessions import SqliteSessionStore
from lycheemem.testing import ScriptedLLM

pytestmark = pytest.mark.anyio
TOKENS = EstimatingTokenCounter()


@pytest.fixture
async def store(tmp_path):
    db = Database(tmp_path / "wm.db")
    await db.open()
    yield SqliteSessionStore(db)
    await db.close()


def _manager(store, llm=None, **config) -> WorkingMemoryManager:
    defaults = {
        "max_tokens": 1000,
        "keep_recent_turns": 4,
        "min_recent_turns": 2,
        "summary_max_tokens": 200,
    }
    defaults.update(config)
    return WorkingMemoryManager(
        store=store, tokens=TOKENS, llm=llm, config=WMConfig(**defaults), clock=Clock()
    )


async def _add(store, text: str, tokens: int, role: str = "user") -> None:
    turn = Turn(
        user_id="u",
        session_id="s",
        turn_index=-1,
        role=role,
        content=text,
        created_at="2026-01-01T00:00:00.000Z",
        token_count=tokens,
    )
    await store.append_turn(turn, now="2026-01-01T00:00:00.000Z")


async def test_below_warn_nothing_happens(store) -> None:
    manager = _manager(store)
    await _add(store, "hello", 100)
    state = await manager.on_user_turn("u", "s")
    assert state.compression_mode == "none" and state.wm_token_usage == 104
    assert state.compressed_history == [{"role": "user", "content": "hello"}]


async def test_warn_schedules_background_precompression_then_applies_it(store) -> None:
    manager = _manager(store)
    for index in range(6):
        await _add(store, f"Turn number {index}. Extra detail here.", 120)
    state = await manager.on_user_turn("u", "s")  # 6 * 124 = 744 >= 700
    assert state.compression_mode == "scheduled" and not state.compression_happened
    await manager.wait_idle()
    await _add(store, "One more.", 10)
    state = await manager.on_user_turn("u", "s")
    assert state.compression_mode == "precomputed" and state.compression_happened
    assert state.compressed_history[0]["role"] == "system"
    assert "Turn number 0." in state.compressed_history[0]["content"]
    assert len(state.raw_recent_turns) == 5  # 4 kept by the pre-computation + the new turn
    assert state.compressed_turn_count == 2


async def test_block_compresses_synchronously_extractively(store) -> None:
    manager = _manager(store)
    for index in range(8):
        await _add(store, f"Fact {index}: the value is {index * 11}. More words follow.", 110)
    state = await manager.on_user_turn("u", "s")  # 8 * 114 = 912 >= 900
    assert state.compression_mode == "sync" and state.compression_happened
    assert state.wm_token_usage < 900
    summary = state.compressed_history[0]["content"]
    assert "user: Fact 0: the value is 0." in summary and "Fact 3" in summary
    session = await store.working_set("u", "s")
    assert session[1].boundary_index == 4
    turns = await store.turns("u", "s")
    assert [t.compressed for t in turns] == [True] * 4 + [False] * 4


async def test_llm_compression_keeps_only_the_summary_block(store) -> None:
    llm = ScriptedLLM(
        ["<analysis>thinking</analysis><summary>## Context\nAlice plans a trip.</summary> trailing"]
    )
    manager = _manager(store, llm=llm)
    for index in range(8):
        await _add(store, f"message {index}", 110)
    state = await manager.on_user_turn("u", "s")
    assert llm.purposes() == ["compress"]
    summary = state.compressed_history[0]["content"]
    assert "Alice plans a trip." in summary and "thinking" not in summary
    assert "trailing" not in summary


async def test_render_never_exceeds_block_threshold(store) -> None:
    manager = _manager(store)
    for _ in range(3):
        await _add(store, "word " * 400, 600)
    state = await manager.on_user_turn("u", "s")
    assert state.wm_token_usage <= 900
    assert state.compressed_history[0]["content"].startswith("[…]")
    stored = await store.turns("u", "s")
    assert stored[0].content == "word " * 400  # storage untouched


async def test_extractive_summary_says_when_lines_were_dropped(store) -> None:
    manager = _manager(store, summary_max_tokens=60)
    for index in range(10):
        await _add(store, f"Sentence number {index} is long enough to matter here.", 100)
    state = await manager.on_user_turn("u", "s")
    summary = state.compressed_history[0]["content"]
    assert "omitted" in summary


async def test_stale_precomputation_is_not_applied(store) -> None:
    manager = _manager(store)
    for index in range(6):
        await _add(store, f"Turn {index}.", 120)
    await manager.on_user_turn("u", "s")
    await manager.wait_idle()
    # a synchronous compression lands first and changes the latest summary
    for index in range(3):
        await _add(store, f"Later {index}.", 120)
    state = await manager.on_user_turn("u", "s")
    summaries = await store.summaries("u", "s")
    assert len(summaries) >= 1
    folded = [t.turn_index for t in await store.turns("u", "s") if t.compressed]
    assert folded == sorted(set(folded))
    assert state.wm_token_usage < 900


async def test_concurrent_sessions_do_not_interfere(store) -> None:
    manager = _manager(store)
    await asyncio.gather(*(_add(store, f"t{i}", 10) for i in range(20)))
    turns = await store.turns("u", "s")
    assert sorted(t.turn_index for t in turns) == list(range(20))
    assert (await manager.render("u", "s")).wm_token_usage == 20 * 14
