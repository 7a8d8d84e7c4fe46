"""The long-document service used by REST and MCP: documents, the compression job, ask."""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections import OrderedDict
from typing import Any

import numpy as np

from lycheemem.clock import Clock
from lycheemem.domain.ports import Embedder, TokenCounter
from lycheemem.errors import (
    DocumentNotFound,
    DocumentNotReady,
    LycheeMemError,
    PayloadTooLarge,
    ValidationFailed,
)
from lycheemem.longdoc.backends.base import LongDocModel
from lycheemem.longdoc.backends.factory import build_model
from lycheemem.longdoc.chunker import Chunk, chunk_text
from lycheemem.longdoc.config import LongDocSettings
from lycheemem.longdoc.gate import GateIndex
from lycheemem.longdoc.models import AskResult, DocumentInfo
from lycheemem.longdoc.ports import ChunkStore, NewDocument
from lycheemem.longdoc.runner import AskOptions, EventSink, LoadedBank, run_method
from lycheemem.longdoc.text import term_counts, truncate_to_tokens

__all__ = ["METHODS", "LongDocService"]

log = logging.getLogger(__name__)

METHODS = ("lychee", "memagent", "rag", "full")
_MAX_TITLE = 500
_MAX_QUESTION_CHARS = 8000
_BANK_CACHE = 4
_EMBED_BATCH = 64


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ValidationFailed(f"{name} must be between {low} and {high}, got {value!r}")


class LongDocService:
    """Documents compressed once into a bank, then questions answered over the bank.

    Promises: every method acts on ``user_id``'s documents only (another tenant's
    document is ``DocumentNotFound``); compression is a durable background job whose
    progress is stored after every batch and which ``start()`` resumes after a crash;
    ``ask`` on a document that is not ready raises ``DocumentNotReady``.
    """

    def __init__(
        self,
        settings: LongDocSettings,
        bank: ChunkStore,
        embedder: Embedder,
        token_counter: TokenCounter,
        *,
        model: LongDocModel | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self._embedder = embedder
        self._counter = token_counter
        self._clock = clock or Clock()
        self._bank = bank
        self._model_override = model
        self.model: LongDocModel | None = None
        self._jobs: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._job_slots = asyncio.Semaphore(2)
        self._loaded: OrderedDict[tuple[str, str], LoadedBank] = OrderedDict()
        self._started = False

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        """Open the bank, build the backend and resume unfinished compression jobs."""
        await self._bank.open()
        self.model = self._model_override or build_model(self.settings, self._counter)
        self._started = True
        for user_id, doc_id in await self._bank.unfinished_documents():
            log.info("resuming compression of document %r", doc_id)
            self._launch(user_id, doc_id)

    async def close(self) -> None:
        """Stop running jobs (their progress is kept), then release everything; idempotent."""
        jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        self._jobs.clear()
        self._loaded.clear()
        if self.model is not None:
            await self.model.close()
            self.model = None
        await self._bank.close()
        self._started = False

    # -- documents -------------------------------------------------------------------
    async def create_document(
        self,
        user_id: str,
        *,
        title: str,
        text: str,
        metadata: dict[str, Any] | None = None,
        chunk_tokens: int | None = None,
        ratio: int | None = None,
    ) -> DocumentInfo:
        """Chunk and store ``text`` as a queued document and start its compression job."""
        title = title.strip()
        if not title or len(title) > _MAX_TITLE:
            raise ValidationFailed(f"title must be 1-{_MAX_TITLE} characters")
        size = len(text.encode("utf-8"))
        if size > self.settings.max_doc_bytes:
            raise PayloadTooLarge(
                f"document is {size} bytes; the limit is {self.settings.max_doc_bytes}"
            )
        if not text.strip():
            raise ValidationFailed("text must not be empty")
        tokens = chunk_tokens or self.settings.chunk_tokens
        chosen_ratio = ratio or self.settings.ratio
        _check_range("chunk_tokens", tokens, 128, 65_536)
        _check_range("ratio", chosen_ratio, 1, 32)
        chunks, terms = await asyncio.to_thread(self._prepare, text, tokens)
        doc = NewDocument(
            user_id=user_id,
            doc_id=uuid.uuid4().hex,
            title=title,
            metadata=dict(metadata or {}),
            n_chars=len(text),
            n_tokens=sum(c.n_tokens for c in chunks),
            chunk_tokens=tokens,
            ratio=int(chosen_ratio),
            backend=self._require_model().name,
            now=self._clock.now_iso(),
        )
        await self._bank.insert_document(doc, chunks, terms)
        created = await self.get_document(user_id, doc.doc_id)
        self._launch(user_id, doc.doc_id)
        return created

    def _prepare(self, text: str, tokens: int) -> tuple[list[Chunk], list[dict[str, int]]]:
        chunks = chunk_text(text, self._counter, tokens)
        return chunks, [dict(term_counts(c.text)) for c in chunks]

    async def list_documents(
        self, user_id: str, *, offset: int = 0, limit: int = 50
    ) -> tuple[list[DocumentInfo], int]:
        """A page of the caller's documents (newest first) and their total."""
        _check_range("offset", offset, 0, 10**9)
        _check_range("limit", limit, 1, 500)
        return await self._bank.list_documents(user_id, offset=offset, limit=limit)

    async def get_document(self, user_id: str, doc_id: str) -> DocumentInfo:
        """The caller's document; ``DocumentNotFound`` otherwise."""
        doc = await self._bank.get_document(user_id, doc_id)
        if doc is None:
            raise DocumentNotFound(doc_id)
        return doc

    async def delete_document(self, user_id: str, doc_id: str) -> None:
        """Stop its job and delete the document, its chunks and vectors."""
        await self.get_document(user_id, doc_id)
        job = self._jobs.pop((user_id, doc_id), None)
        if job is not None:
            job.cancel()
            await asyncio.gather(job, return_exceptions=True)
        self._loaded.pop((user_id, doc_id), None)
        if not await self._bank.delete_document(user_id, doc_id):
            raise DocumentNotFound(doc_id)

    async def delete_user(self, user_id: str) -> int:
        """Delete every document of ``user_id`` (jobs stopped, chunks and vectors gone)."""
        deleted = 0
        while True:
            docs, _ = await self._bank.list_documents(user_id, offset=0, limit=100)
            if not docs:
                return deleted
            for doc in docs:
                await self.delete_document(user_id, doc.doc_id)
                deleted += 1

    async def wait_ready(
        self, user_id: str, doc_id: str, *, timeout_s: float = 600
    ) -> DocumentInfo:
        """Wait for the compression job to finish; returns the document (ready or failed)."""
        job = self._jobs.get((user_id, doc_id))
        if job is not None:
            await asyncio.wait_for(asyncio.shield(job), timeout_s)
        return await self.get_document(user_id, doc_id)

    # -- the compression job ---------------------------------------------------------
    def _launch(self, user_id: str, doc_id: str) -> None:
        key = (user_id, doc_id)
        task = asyncio.create_task(self._job(user_id, doc_id), name=f"longdoc-compress-{doc_id}")
        self._jobs[key] = task
        task.add_done_callback(lambda done: self._forget(key, done))

    def _forget(self, key: tuple[str, str], task: asyncio.Task[None]) -> None:
        if self._jobs.get(key) is task:
            self._jobs.pop(key, None)

    async def _job(self, user_id: str, doc_id: str) -> None:
        async with self._job_slots:
            try:
                await self._compress(user_id, doc_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the job records every failure on the document
                log.exception("compression of document %r failed", doc_id)
                message = exc.message if isinstance(exc, LycheeMemError) else repr(exc)
                await self._bank.set_status(
                    user_id, doc_id, "failed", now=self._clock.now_iso(), error=message[:1000]
                )

    async def _compress(self, user_id: str, doc_id: str) -> None:
        doc = await self.get_document(user_id, doc_id)
        await self._bank.set_status(user_id, doc_id, "compressing", now=self._clock.now_iso())
        pending = await self._bank.uncompressed_chunks(user_id, doc_id)
        batch_size = self.settings.compress_concurrency
        for start in range(0, len(pending), batch_size):
            batch = pending[start : start + batch_size]
            await self._compress_batch(user_id, doc_id, batch, doc.ratio)
        chunks = await self._bank.load_chunks(user_id, doc_id)
        await self._bank.put_vectors(user_id, doc_id, await self._embed_notes(chunks))
        await self._bank.set_status(user_id, doc_id, "ready", now=self._clock.now_iso())

    async def _compress_batch(
        self, user_id: str, doc_id: str, batch: list[tuple[int, str, int]], ratio: int
    ) -> None:
        caps = [max(1, math.ceil(n_tokens / ratio)) for _, _, n_tokens in batch]
        replies = await self._require_model().compress(
            [text for _, text, _ in batch], max_tokens=caps
        )
        notes = []
        for (index, _, _), cap, reply in zip(batch, caps, replies, strict=True):
            note = truncate_to_tokens(reply.text, self._counter, cap)
            notes.append((index, note, self._counter.count(note)))
        await self._bank.save_notes(user_id, doc_id, notes, now=self._clock.now_iso())

    async def _embed_notes(self, chunks: list[Any]) -> np.ndarray:
        texts = [chunk.note for chunk in chunks]
        parts = [
            await self._embedder.embed(texts[i : i + _EMBED_BATCH], kind="document")
            for i in range(0, len(texts), _EMBED_BATCH)
        ]
        if not parts:
            return np.zeros((0, self._embedder.dim), dtype=np.float32)
        return np.concatenate(parts).astype(np.float32)

    # -- questions -------------------------------------------------------------------
    async def ask(
        self,
        user_id: str,
        *,
        doc_id: str,
        question: str,
        method: str = "lychee",
        memory_tokens: int | None = None,
        gate_threshold: float | None = None,
        on_event: EventSink | None = None,
    ) -> AskResult:
        """Answer ``question`` over the caller's ready document with ``method``."""
        options = self._options(question, method, memory_tokens, gate_threshold)
        doc = await self.require_ready(user_id, doc_id)
        bank = await self._load(user_id, doc)
        return await run_method(
            options,
            bank,
            model=self._require_model(),
            embedder=self._embedder,
            counter=self._counter,
            chunker=self._window_texts,
            on_event=on_event,
        )

    async def require_ready(self, user_id: str, doc_id: str) -> DocumentInfo:
        """The caller's document if it is ready; ``DocumentNotReady`` (409) otherwise."""
        doc = await self.get_document(user_id, doc_id)
        if doc.status != "ready":
            raise DocumentNotReady(
                f"Document {doc_id!r} is {doc.status} ({doc.chunks_done}/{doc.n_chunks} chunks)"
            )
        return doc

    def _options(
        self, question: str, method: str, memory_tokens: int | None, gate_threshold: float | None
    ) -> AskOptions:
        question = question.strip()
        if not question or len(question) > _MAX_QUESTION_CHARS:
            raise ValidationFailed(f"question must be 1-{_MAX_QUESTION_CHARS} characters")
        if method not in METHODS:
            raise ValidationFailed(f"method must be one of {METHODS}, got {method!r}")
        settings = self.settings
        memory = memory_tokens if memory_tokens is not None else settings.memory_tokens
        threshold = gate_threshold if gate_threshold is not None else settings.gate_threshold
        _check_range("memory_tokens", memory, 64, 16_384)
        _check_range("gate_threshold", threshold, 0.0, 1.0)
        return AskOptions(
            question=question,
            method=method,  # type: ignore[arg-type]
            memory_tokens=memory,
            gate_threshold=threshold,
            gate_window=settings.gate_window,
            gate_passes=settings.gate_passes,
            recall_cut=settings.gate_recall_cut,
            min_candidates=settings.gate_min_candidates,
            read=settings.read,
            answer_tokens=settings.answer_tokens,
            memagent_chunk_tokens=settings.memagent_chunk_tokens,
            rag_top_k=settings.rag_top_k,
        )

    def _window_texts(self, text: str, tokens: int) -> list[str]:
        return [chunk.text for chunk in chunk_text(text, self._counter, tokens)]

    async def preload(self, user_id: str, doc_id: str) -> None:
        """Load a ready document's bank (and MemAgent windows) into the in-memory cache."""
        doc = await self.get_document(user_id, doc_id)
        bank = await self._load(user_id, doc)
        size = self.settings.memagent_chunk_tokens
        if size not in bank.windows:
            text = "".join(await bank.raw_texts())
            bank.windows[size] = await asyncio.to_thread(self._window_texts, text, size)

    async def _load(self, user_id: str, doc: DocumentInfo) -> LoadedBank:
        key = (user_id, doc.doc_id)
        cached = self._loaded.get(key)
        if cached is not None:
            self._loaded.move_to_end(key)
            return cached
        chunks = await self._bank.load_chunks(user_id, doc.doc_id)
        vectors = await self._bank.get_vectors(user_id, doc.doc_id, len(chunks))
        if vectors is None:
            vectors = await self._embed_notes(chunks)
            await self._bank.put_vectors(user_id, doc.doc_id, vectors)
        index = await asyncio.to_thread(GateIndex, chunks, vectors)
        loaded = LoadedBank(
            chunks=chunks,
            index=index,
            n_tokens=doc.n_tokens,
            load_texts=lambda: self._bank.load_texts(user_id, doc.doc_id),
        )
        self._loaded[key] = loaded
        while len(self._loaded) > _BANK_CACHE:
            self._loaded.popitem(last=False)
        return loaded

    def _require_model(self) -> LongDocModel:
        if self.model is None:
            raise LycheeMemError("long-document service is not started")
        return self.model
