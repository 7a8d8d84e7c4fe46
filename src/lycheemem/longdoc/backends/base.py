"""The ``LongDocModel`` interface and the prompt-driven base shared by real-model backends."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from lycheemem.domain.ports import ChatMessage
from lycheemem.longdoc import prompts

__all__ = ["Completion", "Judgement", "LongDocModel", "PromptedModel"]


@dataclass(frozen=True, slots=True)
class Completion:
    """One model output and the tokens it cost."""

    text: str
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class Judgement:
    """A gate verdict: ``p_yes`` in ``[0, 1]`` (higher means open the chunk)."""

    p_yes: float
    prompt_tokens: int
    completion_tokens: int


@runtime_checkable
class LongDocModel(Protocol):
    """Every model call of long-document QA.

    Promises: each method returns one result per input, in input order; every result
    carries the prompt and completion tokens it cost (the heuristic backend reports
    the tokens it read and wrote); calls are safe to run concurrently; ``close`` is
    idempotent. ``has_judge`` is False when ``judge`` is only a lexical estimate, in
    which case the gate relies on its own pre-score.
    """

    name: str
    has_judge: bool
    context_tokens: int

    async def compress(
        self, texts: Sequence[str], *, max_tokens: Sequence[int]
    ) -> list[Completion]:
        """Compress each text into a note of at most ``max_tokens[i]`` tokens."""
        ...

    async def judge(self, question: str, memory: str, notes: Sequence[str]) -> list[Judgement]:
        """Probability that each note helps answer ``question`` given ``memory``."""
        ...

    async def update_memory(
        self, question: str, memory: str, content: str, *, max_tokens: int
    ) -> Completion:
        """Rewrite the working memory from the question, old memory and new content."""
        ...

    async def answer(self, question: str, context: str, *, max_tokens: int) -> Completion:
        """Answer ``question`` from ``context`` (a memory or raw document text)."""
        ...

    async def close(self) -> None:
        """Release clients, threads and weights."""
        ...


@dataclass(frozen=True, slots=True)
class PromptRequest:
    """One generation request: chat messages and a completion cap."""

    messages: list[ChatMessage]
    max_tokens: int


class PromptedModel(ABC):
    """A ``LongDocModel`` built on two primitives: batched generation and p("yes").

    Subclasses implement :meth:`generate` and :meth:`yes_probability`; prompts put the
    instructions and the question first so calls of one question share a prefix.
    """

    name = "prompted"
    has_judge = True
    context_tokens = 32_768

    @abstractmethod
    async def generate(self, requests: Sequence[PromptRequest]) -> list[Completion]:
        """Complete every request (greedy decoding), in order."""

    @abstractmethod
    async def yes_probability(self, requests: Sequence[PromptRequest]) -> list[Judgement]:
        """P(first answer token is "yes") for every request, in order."""

    async def compress(
        self, texts: Sequence[str], *, max_tokens: Sequence[int]
    ) -> list[Completion]:
        """Compress each text with the note prompt; empty input gives an empty note."""
        requests = [
            PromptRequest(prompts.compress_messages(text, cap), max(1, cap))
            for text, cap in zip(texts, max_tokens, strict=True)
        ]
        return await self.generate(requests)

    async def judge(self, question: str, memory: str, notes: Sequence[str]) -> list[Judgement]:
        """Gate every note against the question and the current memory in one batch."""
        requests = [
            PromptRequest(prompts.gate_messages(question, memory, note), 1) for note in notes
        ]
        return await self.yes_probability(requests)

    async def update_memory(
        self, question: str, memory: str, content: str, *, max_tokens: int
    ) -> Completion:
        """Rewrite the memory with the memory prompt, capped at ``max_tokens``."""
        request = PromptRequest(
            prompts.memory_messages(question, memory, content, max_tokens), max_tokens
        )
        return (await self.generate([request]))[0]

    async def answer(self, question: str, context: str, *, max_tokens: int) -> Completion:
        """Answer from ``context`` with the answer prompt."""
        request = PromptRequest(prompts.answer_messages(question, context), max_tokens)
        return (await self.generate([request]))[0]

    async def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Nothing to release by default."""
