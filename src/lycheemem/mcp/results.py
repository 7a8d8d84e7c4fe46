"""Output models of the MCP tools: the REST response objects, as JSON Schema.

Tools return the REST response dict itself as ``structuredContent``; these
models only describe it (``outputSchema``) and let the SDK check it. Nested
objects are typed loosely and unknown keys are allowed, so the models never
change what the REST route would have returned.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AskResult",
    "ConsolidationResult",
    "FeedbackResult",
    "SearchResult",
    "SmartSearchResult",
    "SynthesisResult",
]


class _Result(BaseModel):
    model_config = ConfigDict(extra="allow")


class SearchResult(_Result):
    """Response of ``lychee_memory_search`` (= ``POST /memory/search``)."""

    query: str
    semantic_results: list[dict[str, Any]] = Field(
        description="Zero or one SemanticResult wrapper with constructed_context and provenance"
    )
    graph_results: list[dict[str, Any]] = Field(description="Alias of semantic_results")
    skill_results: list[dict[str, Any]]
    novelty_retrieved_context: str = Field(
        description="Numbered raw fragments; pass as retrieved_context to consolidate"
    )
    total: int
    retrieval_plan: dict[str, Any]
    action_state: dict[str, Any]
    search_mode: str
    usage_log_id: str | None = Field(description="Pass to lychee_memory_feedback")
    timing_ms: dict[str, float]


class SmartSearchResult(_Result):
    """Response of ``lychee_memory_smart_search`` (= ``POST /memory/smart-search``)."""

    query: str
    mode: str
    synthesized: bool
    background_context: str = Field(description="Fused memory context; reference data only")
    skill_reuse_plan: list[dict[str, Any]]
    provenance: list[dict[str, Any]]
    novelty_retrieved_context: str
    kept_count: int
    dropped_count: int
    total: int
    semantic_results: list[dict[str, Any]]
    graph_results: list[dict[str, Any]]
    skill_results: list[dict[str, Any]]
    usage_log_id: str | None
    timing_ms: dict[str, float]
    retrieval_plan: dict[str, Any] | None = Field(default=None, description="Omitted in compact")
    action_state: dict[str, Any] | None = Field(default=None, description="Omitted in compact")
    search_mode: str | None = None


class SynthesisResult(_Result):
    """Response of ``lychee_memory_synthesize`` (= ``POST /memory/synthesize``)."""

    background_context: str
    skill_reuse_plan: list[dict[str, Any]]
    provenance: list[dict[str, Any]]
    kept_count: int
    dropped_count: int


class ConsolidationResult(_Result):
    """Response of ``lychee_memory_consolidate`` (API.md §2.6 ConsolidationResult)."""

    status: str = Field(description="started, done, skipped or failed")
    job_id: str | None
    session_id: str
    records_added: int = 0
    records_merged: int = 0
    records_updated: int = 0
    records_expired: int = 0
    composites_created: int = 0
    composites_expired: int = 0
    skills_added: int = 0
    entities_added: int = 0
    facts_added: int = 0
    turns_consolidated: int = 0
    watermark: int | None = None
    has_novelty: bool | None = None
    skipped_reason: str | None = None
    steps: list[dict[str, Any]] = Field(default_factory=list)
    llm_calls: int = 0
    error: str | None = None
    attempts: int = 0
    next_attempt_at: str | None = None


class FeedbackResult(_Result):
    """Response of ``lychee_memory_feedback`` (= ``POST /memory/feedback``)."""

    status: str
    usage_log_id: str
    outcome: str
    updated_ids: list[str]


class AskResult(_Result):
    """Response of ``lychee_longdoc_ask`` (= ``POST /longdoc/ask``)."""

    answer: str
    method: str
    chunks_total: int
    chunks_opened: int
    opened: list[dict[str, Any]]
    memory_trace: list[dict[str, Any]]
    llm_calls: int
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
