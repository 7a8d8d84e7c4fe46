"""REST edge of long-document QA: ``/longdoc/documents`` and ``/longdoc/ask`` (JSON or SSE)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import AfterValidator, BaseModel, Field

from lycheemem.api.deps import CallerDep
from lycheemem.domain.text.limits import check_json_value
from lycheemem.errors import LycheeMemError
from lycheemem.longdoc.models import AskResult, DocumentInfo
from lycheemem.longdoc.service import LongDocService

__all__ = [
    "AskCreate",
    "AskPublic",
    "DocumentDeleted",
    "DocumentCreate",
    "DocumentPublic",
    "DocumentsPublic",
    "ask_public",
    "document_public",
    "router",
]

log = logging.getLogger(__name__)
router = APIRouter(prefix="/longdoc", tags=["longdoc"])


# Plain JSON only: finite numbers, nested at most 32 levels.
JsonObject = Annotated[dict[str, Any], AfterValidator(check_json_value)]


class DocumentCreate(BaseModel):
    """Body of ``POST /longdoc/documents``."""

    title: str = Field(min_length=1, max_length=500)
    text: str = Field(min_length=1)
    metadata: JsonObject | None = None
    chunk_tokens: int | None = Field(default=None, ge=128, le=65_536)
    ratio: int | None = Field(default=None, ge=1, le=32)


class DocumentPublic(BaseModel):
    """A document and the progress of its compression."""

    doc_id: str
    title: str
    metadata: dict[str, Any]
    status: str
    n_chars: int
    n_tokens: int
    n_chunks: int
    chunks_done: int
    progress: float
    chunk_tokens: int
    ratio: int
    note_tokens: int
    compression_ratio: float | None
    backend: str
    error: str | None
    created_at: str
    updated_at: str


class DocumentsPublic(BaseModel):
    """A page of documents and the total count."""

    documents: list[DocumentPublic]
    total: int


class DocumentDeleted(BaseModel):
    """``DELETE /longdoc/documents/{doc_id}``."""

    deleted: Literal[True]
    doc_id: str


class OpenedChunkPublic(BaseModel):
    """A chunk the gate opened, with its score."""

    chunk_index: int
    gate_score: int | float  # whole scores stay whole on the wire


class MemoryStepPublic(BaseModel):
    """The working memory right after reading one chunk."""

    chunk_index: int
    memory: str


class AskPublic(BaseModel):
    """``POST /longdoc/ask`` without ``stream``: the answer and what it cost."""

    answer: str
    method: Literal["lychee", "memagent", "rag", "full"]
    chunks_total: int
    chunks_opened: int
    opened: list[OpenedChunkPublic]
    memory_trace: list[MemoryStepPublic]
    llm_calls: int
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int | float


# With ``stream: true`` the same route answers with server-sent events instead.
_ASK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": (
            "The answer as JSON, or with `stream: true` server-sent events: one "
            "`data: <json>` frame per step, then `done` (the answer's fields) or `error`."
        ),
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


class AskCreate(BaseModel):
    """Body of ``POST /longdoc/ask``."""

    doc_id: str = Field(min_length=1, max_length=64)
    question: str = Field(min_length=1, max_length=8000)
    method: Literal["lychee", "memagent", "rag", "full"] = "lychee"
    memory_tokens: int | None = Field(default=None, ge=64, le=16_384)
    gate_threshold: float | None = Field(default=None, ge=0, le=1)
    stream: bool = False


def document_public(doc: DocumentInfo) -> dict[str, Any]:
    """The public JSON shape of a document (also used by MCP)."""
    body = asdict(doc)
    body["progress"] = round(doc.chunks_done / doc.n_chunks, 4) if doc.n_chunks else 1.0
    body["compression_ratio"] = doc.compression_ratio
    return body


def ask_public(result: AskResult) -> dict[str, Any]:
    """The public JSON shape of an answer (also used by MCP and the SSE ``done`` event)."""
    return asdict(result)


def _service(request: Request) -> LongDocService:
    return request.app.state.ctx.longdoc


@router.post("/documents", response_model=DocumentPublic)
async def create_document(
    body: DocumentCreate, request: Request, caller: CallerDep
) -> dict[str, Any]:
    """Store a document and queue its compression; answers at once with ``queued``."""
    doc = await _service(request).create_document(
        caller.user_id,
        title=body.title,
        text=body.text,
        metadata=body.metadata,
        chunk_tokens=body.chunk_tokens,
        ratio=body.ratio,
    )
    return document_public(doc)


@router.get("/documents", response_model=DocumentsPublic)
async def list_documents(
    request: Request,
    caller: CallerDep,
    offset: int = Query(0, ge=0),
    limit: int = Query(50, ge=1, le=500),
) -> dict[str, Any]:
    """The caller's documents, newest first."""
    docs, total = await _service(request).list_documents(caller.user_id, offset=offset, limit=limit)
    return {"documents": [document_public(d) for d in docs], "total": total}


@router.get("/documents/{doc_id}", response_model=DocumentPublic)
async def get_document(doc_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    """One document with its status and progress."""
    return document_public(await _service(request).get_document(caller.user_id, doc_id))


@router.delete("/documents/{doc_id}", response_model=DocumentDeleted)
async def delete_document(doc_id: str, request: Request, caller: CallerDep) -> dict[str, Any]:
    """Delete a document, its bank and vectors (stopping its job)."""
    await _service(request).delete_document(caller.user_id, doc_id)
    return {"deleted": True, "doc_id": doc_id}


@router.post("/ask", response_model=AskPublic, responses=_ASK_RESPONSES)
async def ask(body: AskCreate, request: Request, caller: CallerDep) -> Any:
    """Answer a question over a ready document; ``stream: true`` gives SSE events."""
    service = _service(request)
    arguments: dict[str, Any] = {
        "doc_id": body.doc_id,
        "question": body.question,
        "method": body.method,
        "memory_tokens": body.memory_tokens,
        "gate_threshold": body.gate_threshold,
    }
    if not body.stream:
        return ask_public(await service.ask(caller.user_id, **arguments))
    # Fail fast (404/409 as JSON) before committing to a stream.
    await service.require_ready(caller.user_id, body.doc_id)
    return StreamingResponse(
        _events(service, caller.user_id, arguments),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _frame(event: dict[str, Any]) -> str:
    return f"data: {json.dumps(event, ensure_ascii=False)}\n\n"


async def _events(
    service: LongDocService, user_id: str, arguments: dict[str, Any]
) -> AsyncIterator[str]:
    """Run ``ask`` in a task and relay its events; ``done`` or ``error`` comes last."""
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    async def _work() -> None:
        try:
            result = await service.ask(user_id, on_event=queue.put, **arguments)
            await queue.put({"type": "done", **ask_public(result)})
        except LycheeMemError as exc:
            await queue.put({"type": "error", "code": exc.code, "detail": exc.message})
        except Exception:  # the stream must end with an error event, never hang
            log.exception("longdoc ask stream failed")
            await queue.put({"type": "error", "code": "internal_error", "detail": "internal error"})
        finally:
            await queue.put(None)

    task = asyncio.create_task(_work())
    try:
        while (event := await queue.get()) is not None:
            yield _frame(event)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
