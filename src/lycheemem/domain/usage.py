"""Per-unit-of-work LLM usage accounting: providers add to it, the chat graph reads it."""

from __future__ import annotations

import contextvars

from lycheemem.domain.ports import LLMUsage

__all__ = ["UsageCollector", "collect_usage", "usage_collector"]


class UsageCollector:
    """Accumulates the LLM usage of one unit of work (a turn, a job)."""

    def __init__(self) -> None:
        self.calls: list[LLMUsage] = []

    @property
    def input_tokens(self) -> int:
        """Prompt tokens of every collected call."""
        return sum(call.input_tokens for call in self.calls)

    @property
    def output_tokens(self) -> int:
        """Completion tokens of every collected call."""
        return sum(call.output_tokens for call in self.calls)


usage_collector: contextvars.ContextVar[UsageCollector | None] = contextvars.ContextVar(
    "lycheemem_usage_collector", default=None
)


def collect_usage() -> UsageCollector:
    """Start collecting usage for the current context and return the collector."""
    collector = UsageCollector()
    usage_collector.set(collector)
    return collector
