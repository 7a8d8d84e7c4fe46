"""Runs chat turns through the graph and turns its stream into API events.

``ChatRunner.complete`` waits for the whole turn; ``ChatRunner.stream``
starts the turn as a server-side task feeding a queue and yields events from
it, so a consumer that goes away (a closed tab) never cancels the turn: the
answer is still stored and consolidation still queued (API.md §4).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from typing import Any

from lycheemem.chat.state import TRACE_KEYS, PipelineContext, PipelineState
from lycheemem.domain.usage import UsageCollector, usage_collector
from lycheemem.errors import LLMError

__all__ = ["KEEPALIVE", "ChatRunner", "usage_scope"]

log = logging.getLogger(__name__)

KEEPALIVE: dict[str, Any] = {"type": "keepalive"}
"""Marker the stream yields while waiting; the SSE layer writes it as a comment line."""
_TRACE_FIELDS = {
    "wm_manager": "wm_trace",
    "search": "search_trace",
    "synthesize": "synth_trace",
    "reason": "reason_trace",
    "finalize": "consolidator_trace",
}
_NEXT_STEP = {
    None: "wm_manager",
    "wm_manager": "search",
    "search": "synthesize",
    "synthesize": "reason",
    "reason": "finalize",
    "finalize": "finalize",
}
Emit = Callable[[dict[str, Any]], None]


@contextlib.contextmanager
def usage_scope() -> Iterator[UsageCollector]:
    """Collect the LLM usage of the enclosed work in a fresh collector."""
    collector = UsageCollector()
    token = usage_collector.set(collector)
    try:
        yield collector
    finally:
        usage_collector.reset(token)


class _Turn:
    """Accumulates one run's state and knows which step is in progress."""

    def __init__(self, initial: PipelineState) -> None:
        self.state: dict[str, Any] = dict(initial)
        self.last_step: str | None = None

    @property
    def current_step(self) -> str:
        return _NEXT_STEP[self.last_step]

    def absorb(self, node: str, update: dict[str, Any]) -> None:
        calls = update.get("llm_calls") or []
        self.state.update({k: v for k, v in update.items() if k != "llm_calls"})
        self.state["llm_calls"] = [*self.state.get("llm_calls", []), *calls]
        self.last_step = node

    def trace(self) -> dict[str, Any]:
        return {
            TRACE_KEYS[node]: self.state.get(field)
            for node, field in _TRACE_FIELDS.items()
            if self.state.get(field) is not None
        }

    def summary(self, mode: str) -> dict[str, Any]:
        s = self.state
        return {
            "session_id": s["session_id"],
            "memories_retrieved": int(s.get("kept_count", 0)),
            "wm_token_usage": int(s.get("wm_token_usage", 0)),
            "turn_input_tokens": int(s.get("turn_input_tokens", 0)),
            "turn_output_tokens": int(s.get("turn_output_tokens", 0)),
            "mode": mode,
            "consolidation_job_id": s.get("consolidation_job_id"),
            "trace": self.trace(),
        }


class ChatRunner:
    """Executes chat turns on the compiled graph, one at a time per session."""

    def __init__(self, *, graph: Any, context: PipelineContext) -> None:
        self._graph = graph
        self.context = context
        self._tasks: set[asyncio.Task[None]] = set()

    async def complete(
        self,
        *,
        user_id: str,
        session_id: str,
        message: str,
        trace_id: str = "",
        reference_time: datetime | None = None,
    ) -> dict[str, Any]:
        """Run one turn to the end: ``/chat/complete``'s response (errors propagate)."""
        turn = await self._run(
            user_id, session_id, message, trace_id, reference_time, emit=lambda _: None
        )
        return {
            "session_id": session_id,
            "response": turn.state.get("final_response", ""),
            **{k: v for k, v in turn.summary(self.context.mode).items() if k != "session_id"},
        }

    def stream(
        self,
        *,
        user_id: str,
        session_id: str,
        message: str,
        trace_id: str = "",
        reference_time: datetime | None = None,
        keepalive_s: float = 15.0,
    ) -> AsyncIterator[dict[str, Any]]:
        """Start the turn now and return its SSE events (``KEEPALIVE`` while waiting).

        The turn runs in its own task, started before the first event is read;
        closing (or never reading) the returned iterator does not stop it.
        """
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        task = asyncio.create_task(
            self._produce(queue, user_id, session_id, message, trace_id, reference_time),
            name=f"lycheemem-chat-{trace_id or session_id}",
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return _consume(queue, keepalive_s)

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait (bounded) for turns still running after their clients left (shutdown)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    async def _produce(
        self,
        queue: asyncio.Queue[dict[str, Any] | None],
        user_id: str,
        session_id: str,
        message: str,
        trace_id: str,
        reference_time: datetime | None,
    ) -> None:
        turn: _Turn | None = None

        def emit(event: dict[str, Any]) -> None:
            queue.put_nowait(event)

        try:
            turn = await self._run(
                user_id, session_id, message, trace_id, reference_time, emit=emit
            )
            emit({"type": "done", **turn.summary(self.context.mode)})
        except Exception as exc:  # every failure becomes one error event
            emit(_error_event(exc, getattr(exc, "lycheemem_step", "wm_manager"), trace_id))
        finally:
            queue.put_nowait(None)

    async def _run(
        self,
        user_id: str,
        session_id: str,
        message: str,
        trace_id: str,
        reference_time: datetime | None,
        *,
        emit: Emit,
    ) -> _Turn:
        initial: PipelineState = {
            "user_id": user_id,
            "session_id": session_id,
            "user_query": message,
            "reference_time": reference_time,
            "trace_id": trace_id,
            "top_k": 5,
            "llm_calls": [],
        }
        turn = _Turn(initial)
        async with self.context.memory.locks.hold(user_id, session_id):
            with usage_scope():
                try:
                    await self._drive(turn, initial, emit)
                except Exception as exc:
                    exc.lycheemem_step = turn.current_step  # type: ignore[attr-defined]
                    raise
        return turn

    async def _drive(self, turn: _Turn, initial: PipelineState, emit: Emit) -> None:
        async for mode, chunk in self._graph.astream(
            initial, context=self.context, stream_mode=["updates", "custom"]
        ):
            if mode == "custom":
                emit(chunk)
                continue
            for node, update in chunk.items():
                turn.absorb(node, update or {})
                field = _TRACE_FIELDS[node]
                if node != "finalize":
                    emit(
                        {
                            "type": "step",
                            "step": node,
                            "status": "done",
                            "trace_fragment": {TRACE_KEYS[node]: turn.state.get(field)},
                        }
                    )
                if node == "reason":
                    emit({"type": "answer", "content": turn.state.get("final_response", "")})


async def _consume(
    queue: asyncio.Queue[dict[str, Any] | None], keepalive_s: float
) -> AsyncIterator[dict[str, Any]]:
    while True:
        try:
            event = await asyncio.wait_for(queue.get(), timeout=keepalive_s)
        except TimeoutError:
            yield KEEPALIVE
            continue
        if event is None:
            return
        yield event


def _error_event(exc: BaseException, step: str, trace_id: str) -> dict[str, Any]:
    if isinstance(exc, LLMError):
        code, message, retryable = "llm_error", exc.message, True
    else:
        log.exception("chat turn failed at %s (trace %s)", step, trace_id)
        code, message, retryable = "internal_error", "Internal server error", False
    return {
        "type": "error",
        "code": code,
        "message": message,
        "step": step,
        "retryable": retryable,
        "trace_id": trace_id,
    }
