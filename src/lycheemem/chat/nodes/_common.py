"""Helpers shared by the graph nodes."""

from __future__ import annotations

from lycheemem.domain.usage import usage_collector

__all__ = ["calls_mark", "calls_since"]


def calls_mark() -> int:
    """How many LLM calls the current turn has made so far."""
    collector = usage_collector.get()
    return len(collector.calls) if collector is not None else 0


def calls_since(mark: int) -> list[str]:
    """Purposes of the LLM calls made since ``mark`` (for the ``llm_calls`` state list)."""
    collector = usage_collector.get()
    if collector is None:
        return []
    return [call.purpose for call in collector.calls[mark:]]
