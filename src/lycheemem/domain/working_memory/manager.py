"""The working-memory manager: dual-threshold token budget and rolling compression.

Per user turn (under the session lock held by the caller): apply a ready
pre-computed compression; above the block threshold compress synchronously;
above the warn threshold schedule one background pre-compression; then
render the history (summary + recent raw turns).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from lycheemem.clock import Clock
from lycheemem.domain.models import Summary, Turn
from lycheemem.domain.ports import LLM, SessionStore, TokenCounter
from lycheemem.domain.working_memory.summarize import extractive_summary, llm_summary

__all__ = ["WMConfig", "WMState", "WorkingMemoryManager", "MESSAGE_OVERHEAD_TOKENS"]

log = logging.getLogger(__name__)
MESSAGE_OVERHEAD_TOKENS = 4
PRECOMPUTED_TTL_S = 600.0
TRIM_MARK = "[…]"


@dataclass(slots=True, frozen=True)
class WMConfig:
    """Working-memory settings (see INTEGRATIONS.md §2)."""

    max_tokens: int = 128_000
    warn_threshold: float = 0.7
    block_threshold: float = 0.9
    keep_recent_turns: int = 8
    min_recent_turns: int = 4
    summary_max_tokens: int = 2000


@dataclass(slots=True)
class WMState:
    """What the pipeline gets back from the manager for one turn."""

    compressed_history: list[dict[str, str]]
    raw_recent_turns: list[Turn]
    wm_token_usage: int
    wm_max_tokens: int
    compressed_turn_count: int
    compression_happened: bool = False
    compression_mode: str = "none"
    summary: Summary | None = None

    def trace(self) -> dict[str, object]:
        """The ``wm_manager`` trace fragment (API.md §2.7)."""
        return {
            "wm_token_usage": self.wm_token_usage,
            "wm_max_tokens": self.wm_max_tokens,
            "compressed_turn_count": self.compressed_turn_count,
            "raw_recent_turn_count": len(self.raw_recent_turns),
            "compression_happened": self.compression_happened,
            "compression_mode": self.compression_mode,
        }


@dataclass(slots=True)
class _Compression:
    previous_summary_id: int | None
    summary: Summary
    folded_indexes: list[int]
    created: float = field(default_factory=time.monotonic)


class WorkingMemoryManager:
    """Keeps each session's rendered history under the token budget."""

    def __init__(
        self,
        *,
        store: SessionStore,
        tokens: TokenCounter,
        llm: LLM | None,
        config: WMConfig,
        clock: Clock | None = None,
    ) -> None:
        self._store = store
        self._tokens = tokens
        self._llm = llm
        self.config = config
        self._clock = clock or Clock()
        self._ready: dict[tuple[str, str], _Compression] = {}
        self._inflight: dict[tuple[str, str], asyncio.Task[_Compression | None]] = {}

    # -- accounting -----------------------------------------------------------
    def usage_of(self, summary: Summary | None, turns: Sequence[Turn]) -> int:
        """Tokens of the rendered history: summary as a system message plus active turns."""
        total = sum(turn.token_count + MESSAGE_OVERHEAD_TOKENS for turn in turns)
        if summary is not None:
            total += summary.token_count + MESSAGE_OVERHEAD_TOKENS
        return total

    @property
    def block_tokens(self) -> int:
        """Usage at which compression runs before the turn proceeds."""
        return int(self.config.max_tokens * self.config.block_threshold)

    @property
    def warn_tokens(self) -> int:
        """Usage at which a background pre-compression is scheduled."""
        return int(self.config.max_tokens * self.config.warn_threshold)

    # -- per turn -------------------------------------------------------------
    async def on_user_turn(self, user_id: str, session_id: str) -> WMState:
        """Run steps 2–5 of MEMORY.md §5 after the user turn was stored."""
        key = (user_id, session_id)
        mode, happened = "none", False
        if await self._apply_ready(key):
            mode, happened = "precomputed", True
        _, summary, turns = await self._store.working_set(user_id, session_id)
        usage = self.usage_of(summary, turns)
        if usage >= self.block_tokens:
            if await self._compress_now(key, summary, turns):
                mode, happened = "sync", True
        elif usage >= self.warn_tokens and key not in self._inflight:
            self._schedule(key, summary, turns)
            mode = "scheduled" if mode == "none" else mode
        state = await self.render(user_id, session_id)
        state.compression_mode = mode
        state.compression_happened = happened
        return state

    async def render(self, user_id: str, session_id: str) -> WMState:
        """Render the current history without changing anything."""
        session, summary, turns = await self._store.working_set(user_id, session_id)
        history: list[dict[str, str]] = []
        costs: list[int] = []
        if summary is not None:
            history.append(
                {
                    "role": "system",
                    "content": f"Summary of the earlier conversation:\n{summary.content}",
                }
            )
            costs.append(summary.token_count + MESSAGE_OVERHEAD_TOKENS)
        history.extend({"role": turn.role, "content": turn.content} for turn in turns)
        costs.extend(turn.token_count + MESSAGE_OVERHEAD_TOKENS for turn in turns)
        usage = self.usage_of(summary, turns)
        if usage > self.block_tokens:
            history, usage = self._trim_rendered(history, costs, usage)
        total_turns = session.turn_count if session else 0
        return WMState(
            compressed_history=history,
            raw_recent_turns=list(turns),
            wm_token_usage=usage,
            wm_max_tokens=self.config.max_tokens,
            compressed_turn_count=total_turns - len(turns),
            summary=summary,
        )

    def _trim_rendered(
        self, history: list[dict[str, str]], costs: list[int], usage: int
    ) -> tuple[list[dict[str, str]], int]:
        """Cut the oldest turns' text from the front until under the block threshold.

        ``costs`` are the tokens each message contributed to ``usage``; the
        summary (if any) and the newest turn are never cut.
        """
        first = 1 if history and history[0]["role"] == "system" else 0
        for position in range(first, len(history) - 1):
            if usage <= self.block_tokens:
                break
            content = history[position]["content"]
            old_cost = costs[position]
            keep_tokens = old_cost - (usage - self.block_tokens) - 2 * MESSAGE_OVERHEAD_TOKENS
            keep_chars = int(len(content) * keep_tokens / old_cost) if keep_tokens > 0 else 0
            trimmed = TRIM_MARK + content[len(content) - keep_chars :] if keep_chars else TRIM_MARK
            history[position] = {"role": history[position]["role"], "content": trimmed}
            new_cost = self._tokens.count(trimmed) + MESSAGE_OVERHEAD_TOKENS
            usage -= max(0, old_cost - new_cost)
        return history, usage

    # -- compression ----------------------------------------------------------
    async def _apply_ready(self, key: tuple[str, str]) -> bool:
        ready = self._ready.pop(key, None)
        if ready is None or time.monotonic() - ready.created > PRECOMPUTED_TTL_S:
            return False
        return await self._store.apply_compression(
            key[0],
            key[1],
            summary=ready.summary,
            folded_indexes=ready.folded_indexes,
            expected_previous_summary_id=ready.previous_summary_id,
        )

    async def _compress_now(
        self, key: tuple[str, str], summary: Summary | None, turns: list[Turn]
    ) -> bool:
        inflight = self._inflight.get(key)
        if inflight is not None:
            await asyncio.shield(inflight)
            if await self._apply_ready(key):
                return await self._second_pass(key)
        applied = await self._fold(key, summary, turns, self.config.keep_recent_turns)
        if applied:
            await self._second_pass(key)
        return applied

    async def _second_pass(self, key: tuple[str, str]) -> bool:
        """Fold again keeping only ``min_recent_turns`` if still over the block threshold."""
        _, summary, turns = await self._store.working_set(*key)
        if self.usage_of(summary, turns) < self.block_tokens:
            return True
        await self._fold(key, summary, turns, self.config.min_recent_turns)
        return True

    async def _fold(
        self, key: tuple[str, str], summary: Summary | None, turns: list[Turn], keep: int
    ) -> bool:
        plan = await self._build(key, summary, turns, keep)
        if plan is None:
            return False
        return await self._store.apply_compression(
            key[0],
            key[1],
            summary=plan.summary,
            folded_indexes=plan.folded_indexes,
            expected_previous_summary_id=plan.previous_summary_id,
        )

    async def _build(
        self, key: tuple[str, str], summary: Summary | None, turns: list[Turn], keep: int
    ) -> _Compression | None:
        folded = turns[:-keep] if keep else list(turns)
        if len(folded) < 2:
            return None
        kept_first = (
            turns[len(folded)].turn_index
            if len(turns) > len(folded)
            else (folded[-1].turn_index + 1)
        )
        previous = summary.content if summary else None
        max_tokens = self.config.summary_max_tokens
        if self._llm is not None:
            text = await llm_summary(self._llm, previous, folded, self._tokens, max_tokens)
        else:
            text = extractive_summary(previous, folded, self._tokens, max_tokens)
        new_summary = Summary(
            user_id=key[0],
            session_id=key[1],
            boundary_index=kept_first,
            content=text,
            token_count=self._tokens.count(text),
            created_at=self._clock.now_iso(),
        )
        return _Compression(
            summary.summary_id if summary else None, new_summary, [t.turn_index for t in folded]
        )

    def _schedule(self, key: tuple[str, str], summary: Summary | None, turns: list[Turn]) -> None:
        task = asyncio.create_task(self._precompute(key, summary, turns))
        self._inflight[key] = task

    async def _precompute(
        self, key: tuple[str, str], summary: Summary | None, turns: list[Turn]
    ) -> _Compression | None:
        try:
            plan = await self._build(key, summary, turns, self.config.keep_recent_turns)
            if plan is not None:
                self._ready[key] = plan
            return plan
        except Exception:  # background work must never take the session down
            log.exception("background pre-compression failed for one session")
            return None
        finally:
            self._inflight.pop(key, None)

    async def wait_idle(self) -> None:
        """Wait for in-flight pre-compressions (tests and shutdown)."""
        tasks = list(self._inflight.values())
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def forget(self, user_id: str, session_id: str) -> None:
        """Drop cached pre-computations of a deleted session."""
        self._ready.pop((user_id, session_id), None)
