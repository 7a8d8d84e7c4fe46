"""The provider ports: the LLM, the embedder and the token counter.

Kept beside ``ports.py`` (which re-exports them) so that module stays small; ``providers/``
implements them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

import numpy as np
from pydantic import BaseModel

__all__ = [
    "LLM",
    "ChatMessage",
    "EmbedKind",
    "Embedder",
    "LLMResponse",
    "LLMUsage",
    "ModelT",
    "TokenCounter",
]

ChatMessage = dict[str, str]
"""One chat message: ``{"role": "system"|"user"|"assistant", "content": str}``."""

ModelT = TypeVar("ModelT", bound=BaseModel)
EmbedKind = Literal["query", "document"]


@dataclass(slots=True)
class LLMUsage:
    """Token usage of one LLM call."""

    purpose: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    ms: float = 0.0


@dataclass(slots=True)
class LLMResponse:
    """The text of one completion and its usage."""

    text: str
    usage: LLMUsage
    raw: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class LLM(Protocol):
    """An async chat model.

    Promises: ``complete`` and ``stream`` raise ``LLMError`` after retries are
    exhausted (never return partial garbage silently); ``complete_json``
    returns a validated model instance or raises ``LLMOutputError``; every call
    is recorded in ``usage_log`` with its purpose.
    """

    model: str

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        purpose: str,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> LLMResponse:
        """Return one completion for ``messages``."""
        ...

    def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        purpose: str,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> AsyncIterator[str]:
        """Yield text deltas of one completion as they arrive."""
        ...

    async def complete_json(
        self,
        messages: Sequence[ChatMessage],
        schema: type[ModelT],
        *,
        purpose: str,
        max_tokens: int | None = None,
    ) -> tuple[ModelT, LLMUsage]:
        """Return the completion parsed tolerantly and validated against ``schema``."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """Text → L2-normalised float32 vectors of a fixed dimension.

    Promises: ``embed`` returns an array of shape ``(len(texts), dim)`` with unit
    rows (zero rows for empty texts); identical inputs give identical rows.
    """

    model_name: str
    dim: int

    async def embed(self, texts: Sequence[str], *, kind: EmbedKind = "document") -> np.ndarray:
        """Embed ``texts`` off the event loop."""
        ...


@runtime_checkable
class TokenCounter(Protocol):
    """Counts tokens the way the chat model will (approximately)."""

    def count(self, text: str) -> int:
        """Return the number of tokens in ``text``."""
        ...
