"""Data objects of long-document QA: documents, bank chunks and answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "AskResult",
    "BankChunk",
    "DocumentInfo",
    "DocumentStatus",
    "Method",
    "MemoryStep",
    "OpenedChunk",
]

DocumentStatus = Literal["queued", "compressing", "ready", "failed"]
Method = Literal["lychee", "memagent", "rag", "full"]


@dataclass(slots=True)
class DocumentInfo:
    """A stored document and the progress of its compression job."""

    doc_id: str
    title: str
    metadata: dict[str, Any]
    status: DocumentStatus
    n_chars: int
    n_tokens: int
    n_chunks: int
    chunks_done: int
    chunk_tokens: int
    ratio: int
    note_tokens: int
    backend: str
    created_at: str
    updated_at: str
    error: str | None = None

    @property
    def compression_ratio(self) -> float | None:
        """Achieved ratio: source tokens of compressed chunks over their note tokens."""
        if self.note_tokens <= 0 or self.chunks_done <= 0:
            return None
        return round(
            self.n_tokens * (self.chunks_done / max(1, self.n_chunks)) / self.note_tokens, 3
        )


@dataclass(slots=True)
class BankChunk:
    """One chunk of the bank as the gate and the reasoner see it (text loaded lazily)."""

    index: int
    n_tokens: int
    note: str
    note_tokens: int
    terms: dict[str, int]


@dataclass(slots=True)
class OpenedChunk:
    """A chunk the gate opened, with the gate's score (P(yes) or calibrated pre-score)."""

    chunk_index: int
    gate_score: float


@dataclass(slots=True)
class MemoryStep:
    """The working memory right after reading one chunk."""

    chunk_index: int
    memory: str


@dataclass(slots=True)
class AskResult:
    """The answer to one question and what it cost."""

    answer: str
    method: Method
    chunks_total: int
    chunks_opened: int
    opened: list[OpenedChunk] = field(default_factory=list)
    memory_trace: list[MemoryStep] = field(default_factory=list)
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
