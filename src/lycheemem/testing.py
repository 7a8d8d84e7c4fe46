"""Test doubles that ship with the package: a scripted LLM, a hashing embedder, settings.

These stand in only for what tests cannot reach (an LLM provider) or do not
need (a trained embedding model). They are deterministic and loud: the
scripted LLM raises when its script runs out.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lycheemem.config import Settings, load_settings
from lycheemem.errors import LLMError
from lycheemem.memory.protocols import ChatMessage, EmbedKind, LLMResponse, LLMUsage
from lycheemem.providers.embedding.base import l2_normalise
from lycheemem.providers.llm.base import BaseLLM

__all__ = [
    "HashingEmbedder",
    "LLMCall",
    "ScriptExhausted",
    "ScriptedLLM",
    "TEST_JWT_SECRET",
    "make_test_settings",
    "purpose_script",
    "echo_extraction",
]

TEST_JWT_SECRET = "test-secret-0123456789abcdef0123456789abcdef"
Reply = str | dict[str, Any] | Exception
ReplyFn = Callable[[Sequence[ChatMessage], str], Reply]


class ScriptExhausted(LLMError):
    """The scripted LLM was called more often than its script allows."""


@dataclass(slots=True)
class LLMCall:
    """One recorded call to the scripted LLM."""

    purpose: str
    messages: list[ChatMessage]
    streamed: bool
    reply: str


def _approx_tokens(text: str) -> int:
    return max(1, len(text) // 4)


class ScriptedLLM(BaseLLM):
    """An ``LLM`` that answers from a script and records every call.

    ``script`` is a list of replies consumed in order, or a function
    ``(messages, purpose) -> reply``. A reply may be a string, a dict (sent as
    JSON text) or an exception instance (raised). When the list runs out the
    call raises ``ScriptExhausted``.
    """

    def __init__(self, script: Sequence[Reply] | ReplyFn, *, model: str = "scripted/test") -> None:
        super().__init__()
        self.model = model
        self._fn: ReplyFn | None = script if callable(script) else None
        self._queue: list[Reply] = [] if callable(script) else list(script)
        self.calls: list[LLMCall] = []

    def purposes(self) -> list[str]:
        """The purpose of every call so far, in order."""
        return [call.purpose for call in self.calls]

    def _next(self, messages: Sequence[ChatMessage], purpose: str) -> str:
        if self._fn is not None:
            reply = self._fn(messages, purpose)
        elif self._queue:
            reply = self._queue.pop(0)
        else:
            raise ScriptExhausted(f"scripted LLM has no reply left for a {purpose!r} call")
        if isinstance(reply, Exception):
            self._record_failure(purpose)
            raise reply
        return json.dumps(reply) if isinstance(reply, dict) else reply

    def _usage(self, messages: Sequence[ChatMessage], purpose: str, text: str) -> LLMUsage:
        prompt = sum(_approx_tokens(m["content"]) for m in messages)
        usage = LLMUsage(
            purpose=purpose,
            model=self.model,
            input_tokens=prompt,
            output_tokens=_approx_tokens(text),
        )
        self._record(usage)
        return usage

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        purpose: str,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> LLMResponse:
        """Return the next scripted reply."""
        try:
            text = self._next(messages, purpose)
        finally:
            pass
        self.calls.append(LLMCall(purpose, list(messages), False, text))
        return LLMResponse(text=text, usage=self._usage(messages, purpose, text))

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        purpose: str,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> AsyncIterator[str]:
        """Yield the next scripted reply word by word."""
        text = self._next(messages, purpose)
        self.calls.append(LLMCall(purpose, list(messages), True, text))
        for piece in re.findall(r"\S+\s*|\s+", text):
            await asyncio.sleep(0)
            yield piece
        self._usage(messages, purpose, text)


class HashingEmbedder:
    """Deterministic bag-of-words vectors: each lowercase word hashes into one dimension.

    Texts sharing words get positive cosine; identical texts get cosine 1.
    """

    def __init__(self, dim: int = 64, *, model_name: str = "hashing") -> None:
        self.dim = dim
        self.model_name = model_name
        self.calls = 0

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        for word in re.findall(r"\w+", text.casefold()):
            digest = hashlib.sha1(word.encode()).digest()
            vector[int.from_bytes(digest[:4], "big") % self.dim] += 1.0
        return vector

    async def embed(self, texts: Sequence[str], *, kind: EmbedKind = "document") -> np.ndarray:
        """Embed ``texts`` (kind is ignored)."""
        self.calls += 1
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalise(np.stack([self._vector(text) for text in texts]))


def make_test_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Memory-only settings with a temp data dir, a fixed JWT secret and no debounce.

    Ignores ``.env`` and any ``LYCHEEMEM_*`` variables of the machine running the tests.
    """
    values: dict[str, Any] = {
        "data_dir": Path(tmp_path) / "data",
        "jwt_secret": TEST_JWT_SECRET,
        "consolidate_debounce_s": 0,
        "llm_model": "",
        "embedding_model": "wordllama",
        "embedding_dim": 0,
    }
    values.update(overrides)
    return load_settings(env_file=None, **values)


PurposeReply = Reply | Callable[[Sequence[ChatMessage]], Reply] | list[Reply]


def purpose_script(replies: dict[str, PurposeReply]) -> ReplyFn:
    """A ``ScriptedLLM`` script that answers by call purpose.

    Each value is a reply, a function of the messages, or a list consumed in
    order; a purpose without a reply (or an exhausted list) raises
    ``ScriptExhausted``, so unexpected calls fail loudly.
    """
    queues = {k: list(v) for k, v in replies.items() if isinstance(v, list)}

    def answer(messages: Sequence[ChatMessage], purpose: str) -> Reply:
        if purpose in queues:
            if not queues[purpose]:
                raise ScriptExhausted(f"no scripted reply left for purpose {purpose!r}")
            return queues[purpose].pop(0)
        if purpose not in replies:
            raise ScriptExhausted(f"no scripted reply for purpose {purpose!r}")
        reply = replies[purpose]
        if callable(reply) and not isinstance(reply, Exception):
            return reply(messages)
        return reply  # type: ignore[return-value]

    return answer


_BATCH_TURN = re.compile(r"^\[turn_index=(\d+) [^\]]*role=(user|assistant)[^\]]*\] (.+)$", re.M)


def echo_extraction(messages: Sequence[ChatMessage]) -> dict[str, Any]:
    """An extraction reply that stores each user turn of the batch as one ``fact`` record."""
    prompt = messages[-1]["content"]
    batch = prompt.split("BATCH TURNS:", 1)[-1].split("KNOWN MEMORIES:", 1)[0]
    records = [
        {
            "memory_type": "fact",
            "semantic_text": text.strip(),
            "normalized_text": text.strip().lower(),
            "source_turn_indexes": [int(index)],
            "source_role": "user",
        }
        for index, role, text in _BATCH_TURN.findall(batch)
        if role == "user"
    ]
    return {"has_novelty": bool(records), "records": records, "skills": []}
