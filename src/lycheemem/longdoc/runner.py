"""The question-time scan: LycheeMem's gated reasoner and the three baselines.

All four methods run on the same ``LongDocModel`` and report the same costs, so
they can be compared side by side.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lycheemem.domain.ports import Embedder, TokenCounter
from lycheemem.errors import ValidationFailed
from lycheemem.longdoc.backends.base import Completion, Judgement, LongDocModel
from lycheemem.longdoc.gate import (
    GateIndex,
    GateQuery,
    build_query,
    prescore_probability,
    recall_candidates,
)
from lycheemem.longdoc.models import AskResult, BankChunk, MemoryStep, Method, OpenedChunk
from lycheemem.longdoc.text import truncate_to_tokens

__all__ = ["AskOptions", "EventSink", "LoadedBank", "run_method"]

EventSink = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(slots=True)
class LoadedBank:
    """One document's bank as held in memory for questions (built once, reused)."""

    chunks: list[BankChunk]
    index: GateIndex
    n_tokens: int
    load_texts: Callable[[], Awaitable[list[str]]]
    windows: dict[int, list[str]] = field(default_factory=dict)
    texts: list[str] | None = None

    async def raw_texts(self) -> list[str]:
        """Raw chunk texts, loaded on first use and kept."""
        if self.texts is None:
            self.texts = await self.load_texts()
        return self.texts


@dataclass(frozen=True, slots=True)
class AskOptions:
    """Per-question knobs (defaults come from the settings)."""

    question: str
    method: Method
    memory_tokens: int
    gate_threshold: float
    gate_window: int
    gate_passes: int
    recall_cut: float
    min_candidates: int
    read: str
    answer_tokens: int
    memagent_chunk_tokens: int
    rag_top_k: int


@dataclass(slots=True)
class _Ledger:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, results: Sequence[Completion | Judgement]) -> None:
        self.calls += len(results)
        self.prompt_tokens += sum(r.prompt_tokens for r in results)
        self.completion_tokens += sum(r.completion_tokens for r in results)


@dataclass(slots=True)
class _Run:
    """Everything one question's scan needs."""

    options: AskOptions
    bank: LoadedBank
    model: LongDocModel
    embedder: Embedder
    counter: TokenCounter
    emit: EventSink
    chunker: Callable[[str, int], list[str]]
    ledger: _Ledger = field(default_factory=_Ledger)
    opened: list[OpenedChunk] = field(default_factory=list)
    trace: list[MemoryStep] = field(default_factory=list)


async def _no_events(event: dict[str, Any]) -> None:
    return None


async def run_method(
    options: AskOptions,
    bank: LoadedBank,
    *,
    model: LongDocModel,
    embedder: Embedder,
    counter: TokenCounter,
    chunker: Callable[[str, int], list[str]],
    on_event: EventSink | None = None,
) -> AskResult:
    """Answer ``options.question`` with ``options.method``; emits events as it goes.

    ``chunker(text, tokens)`` re-chunks the raw document for MemAgent's fixed windows.
    """
    run = _Run(options, bank, model, embedder, counter, on_event or _no_events, chunker)
    started = time.perf_counter()
    methods = {"lychee": _lychee, "memagent": _memagent, "rag": _rag, "full": _full}
    answer = await methods[options.method](run)
    await run.emit({"type": "answer", "answer": answer})
    return AskResult(
        answer=answer,
        method=options.method,
        chunks_total=len(bank.chunks),
        chunks_opened=len({o.chunk_index for o in run.opened}),
        opened=run.opened,
        memory_trace=run.trace,
        llm_calls=run.ledger.calls,
        prompt_tokens=run.ledger.prompt_tokens,
        completion_tokens=run.ledger.completion_tokens,
        latency_ms=round((time.perf_counter() - started) * 1000, 3),
    )


# -- shared steps --------------------------------------------------------------
async def _prescore(
    run: _Run, memory: str, seen: Mapping[int, frozenset[str]] | None = None
) -> tuple[GateQuery, np.ndarray]:
    """The gate query for the current memory and every chunk's pre-score under it."""
    query = build_query(run.options.question, memory, run.bank.index)
    text = f"{run.options.question}\n{memory}".strip()
    vector = (await run.embedder.embed([text], kind="query"))[0]
    return query, run.bank.index.prescore(query, vector, seen)


async def _read(run: _Run, chunk_index: int, memory: str, content: str) -> str:
    reply = await run.model.update_memory(
        run.options.question, memory, content, max_tokens=run.options.memory_tokens
    )
    run.ledger.add([reply])
    new_memory = truncate_to_tokens(reply.text, run.counter, run.options.memory_tokens)
    run.trace.append(MemoryStep(chunk_index, new_memory))
    await run.emit({"type": "memory", "chunk_index": chunk_index, "memory": new_memory})
    return new_memory


async def _answer(run: _Run, context: str) -> str:
    reply = await run.model.answer(
        run.options.question, context, max_tokens=run.options.answer_tokens
    )
    run.ledger.add([reply])
    return reply.text


# -- lychee ----------------------------------------------------------------------
@dataclass(slots=True)
class _ScanState:
    memory: str = ""
    version: int = 0
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    query: GateQuery = field(default_factory=lambda: GateQuery(frozenset(), frozenset()))
    judged_at: dict[int, int] = field(default_factory=dict)
    # chunk read -> the anchors it was read with (it is read again only for new anchors)
    read_with: dict[int, frozenset[str]] = field(default_factory=dict)


async def _lychee(run: _Run) -> str:
    state = _ScanState()
    state.query, state.scores = await _prescore(run, "")
    for pass_number in range(1, run.options.gate_passes + 1):
        version_before = state.version
        await _scan_pass(run, state, pass_number)
        if state.version == version_before:
            break
    return await _answer(run, state.memory)


async def _scan_pass(run: _Run, state: _ScanState, pass_number: int) -> None:
    """Walk the document once; re-window from the current chunk when the memory changes."""
    position = -1
    while True:
        window = _next_window(run, state, position)
        if not window:
            return
        scores = await _judge(run, state, window)
        for chunk_index, score in zip(window, scores, strict=True):
            position = chunk_index
            is_open = score >= run.options.gate_threshold
            await run.emit(
                {
                    "type": "gate",
                    "chunk_index": chunk_index,
                    "gate_score": round(score, 4),
                    "opened": is_open,
                    "pass": pass_number,
                }
            )
            if not is_open:
                state.judged_at[chunk_index] = state.version
                continue
            if await _open(run, state, chunk_index, score):
                break


def _next_window(run: _Run, state: _ScanState, position: int) -> list[int]:
    candidates = recall_candidates(
        state.scores, recall_cut=run.options.recall_cut, min_candidates=run.options.min_candidates
    )
    # a chunk already read comes back only when the chain reached a new anchor in it
    # (its pre-score then counts just those anchors): a hop read before its link was known
    pending = sorted(
        i
        for i in candidates
        if i > position
        and state.judged_at.get(i) != state.version
        and (i not in state.read_with or state.scores[i] > 0)
    )
    return pending[: run.options.gate_window]


async def _judge(run: _Run, state: _ScanState, window: list[int]) -> list[float]:
    """P(yes) for every chunk of the window, in parallel (pre-score when model-free)."""
    if not run.model.has_judge:
        return [prescore_probability(float(state.scores[i])) for i in window]
    notes = [run.bank.chunks[i].note for i in window]
    verdicts = await run.model.judge(run.options.question, state.memory, notes)
    run.ledger.add(verdicts)
    return [v.p_yes for v in verdicts]


async def _open(run: _Run, state: _ScanState, chunk_index: int, score: float) -> bool:
    """Read one chunk into memory; True when the memory changed (then re-gate).

    The chunk is remembered with the anchors known once it is read (including those its
    own content added), so it comes back only for an anchor that a later chunk adds: a
    hop that sits in a chunk read before the hop's link was known.
    """
    run.opened.append(OpenedChunk(chunk_index, round(score, 4)))
    if run.options.read == "raw":
        content = (await run.bank.raw_texts())[chunk_index]
    else:
        content = run.bank.chunks[chunk_index].note
    new_memory = await _read(run, chunk_index, state.memory, content)
    changed = new_memory != state.memory
    if changed:
        state.memory = new_memory
        state.version += 1
        state.query = build_query(run.options.question, new_memory, run.bank.index)
    else:
        state.judged_at[chunk_index] = state.version
    previous = state.read_with.get(chunk_index, frozenset())
    state.read_with[chunk_index] = previous | state.query.anchors
    if changed:
        state.query, state.scores = await _prescore(run, new_memory, state.read_with)
    return changed


# -- baselines -------------------------------------------------------------------
async def _memagent(run: _Run) -> str:
    """MemAgent: every fixed-size raw window, memory overwritten after each, no gate."""
    size = run.options.memagent_chunk_tokens
    windows = run.bank.windows.get(size)
    if windows is None:
        text = "".join(await run.bank.raw_texts())
        windows = await asyncio.to_thread(run.chunker, text, size)
        run.bank.windows[size] = windows
    memory = ""
    for window_index, text in enumerate(windows):
        run.opened.append(OpenedChunk(window_index, 1.0))
        memory = await _read(run, window_index, memory, text)
    return await _answer(run, memory)


async def _rag(run: _Run) -> str:
    """Hybrid top-k chunks (no memory), concatenated in document order, one answer call."""
    _, scores = await _prescore(run, "")
    top = sorted(int(i) for i in np.argsort(-scores, kind="stable")[: run.options.rag_top_k])
    texts = await run.bank.raw_texts()
    for chunk_index in top:
        probability = prescore_probability(float(scores[chunk_index]))
        run.opened.append(OpenedChunk(chunk_index, round(probability, 4)))
        await run.emit(
            {
                "type": "gate",
                "chunk_index": chunk_index,
                "gate_score": round(probability, 4),
                "opened": True,
                "pass": 1,
            }
        )
    room = (
        run.model.context_tokens
        - run.options.answer_tokens
        - run.counter.count(run.options.question)
    )
    context = truncate_to_tokens("\n\n".join(texts[i] for i in top), run.counter, room)
    return await _answer(run, context)


async def _full(run: _Run) -> str:
    """The whole document in one call, refused when it does not fit the model window."""
    need = run.bank.n_tokens + run.counter.count(run.options.question) + run.options.answer_tokens
    if need > run.model.context_tokens:
        raise ValidationFailed(
            f"method 'full' needs {need} tokens but the model window is "
            f"{run.model.context_tokens}; use 'lychee'"
        )
    run.opened.extend(OpenedChunk(i, 1.0) for i in range(len(run.bank.chunks)))
    return await _answer(run, "".join(await run.bank.raw_texts()))
