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
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lycheemem.config import Settings, load_settings
from lycheemem.domain.models import ExtractedRecord, MemoryRecord, SourceRef, Turn
from lycheemem.domain.ports import ChatMessage, EmbedKind, LLMResponse, LLMUsage
from lycheemem.domain.text.terms import canon, record_id_for
from lycheemem.errors import LLMError
from lycheemem.providers.embedding.base import l2_normalise
from lycheemem.providers.llm.base import BaseLLM

__all__ = [
    "HashingEmbedder",
    "LLMCall",
    "ScriptExhausted",
    "ScriptedLLM",
    "TEST_JWT_SECRET",
    "make_record",
    "make_test_settings",
    "purpose_script",
    "echo_extraction",
    "heuristic_extraction",
    "serve_in_thread",
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


def make_record(user_id: str, text: str, session_id: str = "s1", **fields: Any) -> MemoryRecord:
    """A fact record as consolidation would store it: id derived from the text, turn 0 cited.

    ``fields`` override any other ``MemoryRecord`` field (``memory_type``, ``created_at`` ...).
    """
    now = fields.pop("created_at", "2026-03-01T10:00:00.000Z")
    return MemoryRecord(
        record_id=record_id_for(user_id, text),
        user_id=user_id,
        memory_type=fields.pop("memory_type", "fact"),
        semantic_text=text,
        normalized_text=canon(text),
        created_at=now,
        updated_at=now,
        source_session_id=session_id,
        source_turn_ids=fields.pop("source_turn_ids", [0]),
        sources=fields.pop("sources", [SourceRef(session_id, [0])]),
        **fields,
    )


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


@contextmanager
def serve_in_thread(app: Any, **uvicorn_options: Any) -> Iterator[str]:
    """Serve the ASGI ``app`` with a real uvicorn on 127.0.0.1 (a free port), yield its URL.

    The server runs in a daemon thread with its lifespan; it has started (startup done,
    socket listening) when the block begins and has stopped when the block exits.
    ``uvicorn_options`` go to ``uvicorn.Config`` (``log_level`` defaults to warning).
    """
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    options: dict[str, Any] = {"log_level": "warning", **uvicorn_options}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()


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


_TURN_HEAD = re.compile(r"^\[(\d+) (user|assistant)(?: ([^\]]+))?\] ?(.*)$")
_TIME_LINE = re.compile(r"^@ (\d{4}-\d\d-\d\d \d\d:\d\d)")
_TIMEZONE = re.compile(r"^Timezone: (\S+)", re.M)
_NAME_PREFIX = re.compile(r"^([A-Z][\w.'-]*(?: [A-Z][\w.'-]*)?): ")


def _section(prompt: str, start: str, end: str) -> str:
    return prompt.split(start, 1)[-1].split(end, 1)[0] if start in prompt else ""


def _parse_turns(block: str) -> list[Turn]:
    """Turns rendered by the extraction prompt (``@ time`` lines, ``[n role speaker] text``)."""
    turns: list[Turn] = []
    when = ""
    for line in block.strip().splitlines():
        stamp, head = _TIME_LINE.match(line), _TURN_HEAD.match(line)
        if stamp:
            when = stamp.group(1).replace(" ", "T")
        elif head:
            index, role, speaker, text = head.groups()
            named = _NAME_PREFIX.match(text)
            # The prompt leaves out a speaker that already opens the content ("Ann: ...").
            speaker = speaker or (named.group(1) if named else None)
            turns.append(Turn("", "", int(index), role, text, when, speaker=speaker))  # type: ignore[arg-type]
        elif turns:  # a continuation line of a multi-line turn
            turns[-1].content += "\n" + line
    return turns


def _record_json(record: ExtractedRecord) -> dict[str, Any]:
    # Empty lists and nulls are left out, as the extraction prompt asks.
    temporal = {k: v for k, v in record.temporal.as_dict().items() if v}
    fields = {
        "memory_type": record.memory_type,
        "semantic_text": record.semantic_text,
        "normalized_text": record.normalized_text,
        "entities": record.entities,
        "temporal": temporal,
        "task_tags": record.task_tags,
        "tool_tags": record.tool_tags,
        "constraint_tags": record.constraint_tags,
        "failure_tags": record.failure_tags,
        "affordance_tags": record.affordance_tags,
        "source_turn_indexes": record.source_turn_indexes,
        "source_role": record.source_role,
    }
    return {k: v for k, v in fields.items() if v}


def heuristic_extraction(messages: Sequence[ChatMessage]) -> dict[str, Any]:
    """An extraction reply holding what the memory-only encoder extracts from the batch.

    Mirrors memory-only consolidation (the last context turn is read for whom the batch
    answers, its own records are dropped) and serialises the records and skills in the
    ``ExtractionResult`` shape, so the reply's size is that of a plausible extractor: it
    keeps information-bearing sentences and drops chit-chat and questions.
    """
    from lycheemem.consolidation.encode.heuristic import encode_turns

    prompt = messages[-1]["content"]
    zone = _TIMEZONE.search(prompt)
    batch = _parse_turns(_section(prompt, "BATCH TURNS:", "KNOWN MEMORIES:"))
    lead = _parse_turns(_section(prompt, "CONTEXT TURNS", "BATCH TURNS:"))[-1:]
    records, skills = encode_turns(
        [*lead, *batch], user_display_name=None, timezone=zone.group(1) if zone else "UTC"
    )
    own = {turn.turn_index for turn in batch}
    kept = [r for r in records if own.intersection(r.source_turn_indexes)]
    for record in kept:
        record.source_turn_indexes = [i for i in record.source_turn_indexes if i in own]
    return {
        "has_novelty": bool(kept or skills),
        "records": [_record_json(r) for r in kept],
        "skills": [
            {"intent": s.intent, "doc_markdown": s.doc_markdown, "conditions": s.conditions}
            for s in skills
        ],
    }


def echo_extraction(messages: Sequence[ChatMessage]) -> dict[str, Any]:
    """An extraction reply that stores each user turn of the batch as one ``fact`` record."""
    batch = _parse_turns(_section(messages[-1]["content"], "BATCH TURNS:", "KNOWN MEMORIES:"))
    records = [
        {
            "memory_type": "fact",
            "semantic_text": turn.content.strip(),
            "normalized_text": turn.content.strip().lower(),
            "source_turn_indexes": [turn.turn_index],
            "source_role": "user",
        }
        for turn in batch
        if turn.role == "user"
    ]
    return {"has_novelty": bool(records), "records": records, "skills": []}
