"""Response models of the REST API, named by role: one per 2xx JSON body.

The services build these bodies as plain dicts (REST and MCP share them), and the routes
declare the models below as ``response_model`` with ``response_model_exclude_unset=True``.
Together that keeps what clients receive exactly what the service built:

- a field the service leaves out stays out (fields that only some bodies carry have a
  non-None default, so OpenAPI lists them as optional rather than nullable);
- a field the service adds that is not declared here still passes (``extra="allow"``);
- numbers that may be whole are ``Number`` (``int | float``): a plain ``float`` field would
  turn ``3`` into ``3.0``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AccountDeleted",
    "AllDeleted",
    "ChatCompletePublic",
    "ConsolidationPublic",
    "FeedbackPublic",
    "GraphClearedPublic",
    "GraphEdgePublic",
    "GraphNodePublic",
    "GraphSearchPublic",
    "HealthPublic",
    "ImportReportPublic",
    "MemoryGraphPublic",
    "MemoryItemDetail",
    "MemoryItemPublic",
    "MessagePublic",
    "PipelineStatusPublic",
    "ReadinessPublic",
    "ReasonPublic",
    "RecordsDeleted",
    "RecordsPublic",
    "SearchPublic",
    "SessionDeleted",
    "SessionMetaPublic",
    "SessionSummaryPublic",
    "SessionViewPublic",
    "SessionsPublic",
    "SkillPublic",
    "SkillsCleared",
    "SkillsPublic",
    "SmartSearchPublic",
    "SummaryPublic",
    "SynthesisPublic",
    "TurnPublic",
]

# Whole numbers stay whole on the wire (see the module docstring).
Number = int | float
JsonDict = dict[str, Any]


class _Public(BaseModel):
    """Base of response bodies: declared fields documented, undeclared ones passed through."""

    model_config = ConfigDict(extra="allow")


# -- ops -------------------------------------------------------------------------------


class HealthPublic(_Public):
    """``GET /health``."""

    status: Literal["ok"]
    version: str


class ReadinessPublic(_Public):
    """``GET /ready`` (200 ready, 503 not ready): each check says ``ok``, ``error: ...``, etc."""

    status: Literal["ready", "not_ready"]
    checks: dict[str, str]


class MessagePublic(_Public):
    """A confirmation with a human-readable message."""

    message: str


# -- sessions --------------------------------------------------------------------------


class TurnPublic(_Public):
    """One stored turn (API.md §5); ``deleted`` mirrors ``compressed`` for older clients."""

    turn_index: int
    role: Literal["user", "assistant"]
    content: str
    speaker: str | None
    turn_id: str | None
    metadata: JsonDict | None
    token_count: int
    created_at: str
    compressed: bool
    deleted: bool


class SummaryPublic(_Public):
    """A rolling working-memory summary covering the turns before ``boundary_index``."""

    boundary_index: int
    content: str
    token_count: int
    created_at: str


class SessionSummaryPublic(_Public):
    """One row of ``GET /sessions``."""

    session_id: str
    turn_count: int
    last_message: str
    title: str
    topic: str | None
    tags: list[str]
    created_at: str
    updated_at: str
    consolidated_until: int


class SessionsPublic(_Public):
    """``GET /sessions``: a page, most recently updated first, and the total."""

    sessions: list[SessionSummaryPublic]
    total: int


class SessionViewPublic(_Public):
    """``GET /memory/session/{session_id}``: a page of turns, summaries, working memory."""

    session_id: str
    topic: str | None
    tags: list[str]
    turns: list[TurnPublic]
    turn_count: int
    active_turn_count: int
    summaries: list[SummaryPublic]
    wm_max_tokens: int
    wm_current_tokens: int
    consolidated_until: int
    feedback: dict[str, str] = Field(description="usage_log_id -> the feedback given")


class SessionDeleted(_Public):
    """``DELETE /memory/session/{session_id}``."""

    message: str
    turns_deleted: int
    records_deleted: int
    composites_deleted: int


class SessionMetaPublic(_Public):
    """``PATCH /memory/session/{session_id}/meta``."""

    message: str
    session_id: str
    topic: str | None
    tags: list[str]


# -- memory items ----------------------------------------------------------------------


class TemporalPublic(_Public):
    """When a memory refers to and when it holds (ISO-8601 or null)."""

    t_ref: str | None
    t_valid_from: str | None
    t_valid_to: str | None


class SourceRefPublic(_Public):
    """The turns of one session a memory was derived from."""

    session_id: str
    turn_ids: list[int]
    turn_refs: list[str]


class MemoryItemPublic(_Public):
    """A record or composite (API.md §2.8); kind-specific fields appear only on that kind."""

    kind: Literal["record", "composite"]
    composite_id: str = Field(default="", description="composites only (equals record_id)")
    record_id: str
    memory_type: str
    semantic_text: str
    normalized_text: str
    entities: list[str]
    temporal: TemporalPublic
    task_tags: list[str]
    tool_tags: list[str]
    constraint_tags: list[str]
    failure_tags: list[str]
    affordance_tags: list[str]
    confidence: Number
    source_role: str = Field(default="", description="records only")
    source_session_id: str | None = Field(default=None, description="records only")
    source_turn_ids: list[int] = Field(default_factory=list, description="records only")
    source_turn_refs: list[str] = Field(default_factory=list, description="records only")
    source_record_ids: list[str] = Field(default_factory=list, description="composites only")
    child_composite_ids: list[str] = Field(default_factory=list, description="composites only")
    level: int = Field(default=0, description="composites only")
    synthesis_reason: str = Field(default="", description="composites only")
    sources: list[SourceRefPublic]
    created_at: str
    updated_at: str
    retrieval_count: int
    retrieval_hit_count: int
    action_success_count: int
    action_fail_count: int
    last_retrieved_at: str | None
    expired: bool
    expired_at: str | None
    expired_reason: str | None
    version: int = Field(default=1, description="records only")
    superseded_by: str | None = Field(default=None, description="records only")


class ItemChildrenPublic(_Public):
    """The direct members of a composite."""

    child_composite_ids: list[str]
    direct_record_ids: list[str]


class HistoryEntryPublic(_Public):
    """An earlier text of a record (newest five)."""

    semantic_text: str | None
    normalized_text: str | None
    replaced_at: str | None
    reason: str | None


class MemoryItemDetail(MemoryItemPublic):
    """``GET /memory/records/{item_id}``: the item with its tree neighbours and history."""

    parents: list[str]
    children: ItemChildrenPublic | None
    history: list[HistoryEntryPublic]


class RecordsPublic(_Public):
    """``GET /memory/records``: a page of items and the overall total."""

    items: list[MemoryItemPublic]
    total: int
    offset: int
    limit: int


class RecordsDeleted(_Public):
    """``DELETE /memory/records/{item_id}``: the item and every composite holding it."""

    deleted_ids: list[str]
    deleted_count: int


# -- graph -----------------------------------------------------------------------------


class GraphNodeProperties(_Public):
    """What a graph node shows besides its name."""

    semantic_text: str
    memory_type: str
    entities: list[str]
    confidence: Number
    created_at: str
    expired: bool
    source_record_ids: list[str] = Field(default_factory=list, description="composites only")
    child_composite_ids: list[str] = Field(default_factory=list, description="composites only")
    is_anchor: bool = Field(default=False, description="only on graph search hits")


class GraphNodePublic(_Public):
    """A node of the memory tree (``name`` is the first 80 characters of the text)."""

    id: str
    name: str
    label: str
    node_kind: Literal["record", "composite"]
    level: int
    properties: GraphNodeProperties


class GraphEdgePublic(_Public):
    """A composite-to-member edge."""

    source: str
    target: str
    relation: Literal["child_composite", "composed_from"]


class GraphStatsPublic(_Public):
    """The caller's item counts (not only those returned)."""

    record_count: int
    composite_count: int


class MemoryGraphPublic(_Public):
    """``GET /memory/graph``: nodes, edges that never dangle, and tree roots."""

    nodes: list[GraphNodePublic]
    edges: list[GraphEdgePublic]
    tree_roots: list[str]
    stats: GraphStatsPublic
    truncated: bool


class GraphSearchPublic(_Public):
    """``GET /memory/graph/search``: anchor nodes, best first (``edges`` is always empty)."""

    nodes: list[GraphNodePublic]
    edges: list[GraphEdgePublic]


class GraphClearedPublic(_Public):
    """``DELETE /memory/graph/clear``."""

    message: str
    records_deleted: int
    composites_deleted: int
    usage_logs_deleted: int


# -- skills ----------------------------------------------------------------------------


class SkillPublic(_Public):
    """A skill as listed by ``GET /memory/skills`` (``id`` equals ``skill_id``)."""

    id: str
    skill_id: str
    intent: str
    doc_markdown: str
    conditions: str
    metadata: JsonDict
    success_count: int
    usage_count: int
    last_used: str | None
    created_at: str
    updated_at: str


class SkillsPublic(_Public):
    """``GET /memory/skills``: a page and the total."""

    skills: list[SkillPublic]
    total: int


class SkillsCleared(_Public):
    """``DELETE /memory/skills/clear``."""

    message: str
    deleted: int


# -- search, synthesis, reasoning, feedback ---------------------------------------------


class SearchPublic(_Public):
    """``POST /memory/search`` (API.md §6); ``graph_results`` repeats ``semantic_results``."""

    query: str
    semantic_results: list[JsonDict]
    graph_results: list[JsonDict]
    skill_results: list[JsonDict]
    novelty_retrieved_context: str
    total: int
    retrieval_plan: JsonDict
    action_state: JsonDict
    search_mode: str
    usage_log_id: str | None
    timing_ms: dict[str, Number]


class SynthesisPublic(_Public):
    """``POST /memory/synthesize``: background context and what it was built from."""

    background_context: str
    skill_reuse_plan: list[JsonDict]
    provenance: list[JsonDict]
    kept_count: int
    dropped_count: int


class SmartSearchPublic(_Public):
    """``POST /memory/smart-search``; ``compact`` leaves results, plan and state out."""

    query: str
    mode: Literal["raw", "full", "compact"]
    synthesized: bool
    background_context: str
    skill_reuse_plan: list[JsonDict]
    provenance: list[JsonDict]
    novelty_retrieved_context: str
    kept_count: int
    dropped_count: int
    total: int
    semantic_results: list[JsonDict]
    graph_results: list[JsonDict]
    skill_results: list[JsonDict]
    usage_log_id: str | None
    search_mode: str
    timing_ms: dict[str, Number]
    retrieval_plan: JsonDict = Field(default_factory=dict, description="absent in compact mode")
    action_state: JsonDict = Field(default_factory=dict, description="absent in compact mode")


class ReasonPublic(_Public):
    """``POST /memory/reason``: one answer over a client-prepared context."""

    response: str
    final_response: str
    session_id: str
    wm_token_usage: int
    mode: Literal["llm", "memory_only"]
    turn_input_tokens: int
    turn_output_tokens: int


class FeedbackPublic(_Public):
    """``POST /memory/feedback``."""

    status: Literal["recorded"]
    usage_log_id: str | None
    outcome: str
    updated_ids: list[str]


class ChatCompletePublic(_Public):
    """``POST /chat/complete``: the answer and the trace of every stage (API.md §2.7)."""

    session_id: str
    response: str
    memories_retrieved: int
    wm_token_usage: int
    turn_input_tokens: int
    turn_output_tokens: int
    mode: Literal["llm", "memory_only"]
    consolidation_job_id: str | None
    trace: JsonDict


# -- consolidation and status ------------------------------------------------------------


class ConsolidationStepPublic(_Public):
    """One timed step of a consolidation run."""

    step: str
    status: str
    detail: str
    ms: Number


class ConsolidationPublic(_Public):
    """A consolidation result or job state (API.md §2.6).

    ``status`` is ``started``/``done``/``skipped``/``failed`` for ``POST /memory/consolidate``
    and ``pending``/``running``/``done``/``skipped``/``failed``/``none`` for
    ``GET /pipeline/last-consolidation``, which adds the job's timestamps. A job that failed
    before it reported anything carries only its ids, ``error``, ``attempts`` and
    ``next_attempt_at``, so every other field is optional.
    """

    status: str
    job_id: str | None = None
    session_id: str = ""
    entities_added: int = 0
    facts_added: int = 0
    skills_added: int = 0
    records_added: int = 0
    records_merged: int = 0
    records_updated: int = 0
    records_expired: int = 0
    composites_created: int = 0
    composites_expired: int = 0
    turns_consolidated: int = 0
    watermark: int = 0
    has_novelty: bool | None = None
    skipped_reason: str | None = None
    steps: list[ConsolidationStepPublic] = Field(default_factory=list)
    llm_calls: int = 0
    skipped_turns: list[JsonDict] = Field(default_factory=list)
    error: str | None = None
    attempts: int = Field(default=0, description="absent when no job was queued")
    next_attempt_at: str | None = Field(default=None, description="set while a retry waits")
    created_at: str | None = Field(default=None, description="last-consolidation only")
    started_at: str | None = Field(default=None, description="last-consolidation only")
    finished_at: str | None = Field(default=None, description="last-consolidation only")
    message: str = Field(default="", description="the legacy route only")


class PipelineStatusPublic(_Public):
    """``GET /pipeline/status``: the caller's counts and jobs, the server's mode and models."""

    session_count: int
    graph_node_count: int
    graph_edge_count: int
    skill_count: int
    record_count: int
    composite_count: int
    expired_record_count: int
    queued_jobs: int
    running_jobs: int
    failed_jobs: int
    skipped_turn_count: int
    skipped_turns: list[JsonDict]
    mode: Literal["llm", "memory_only"]
    llm_model: str | None
    embedding_model: str
    version: str


# -- whole-namespace deletes and import ---------------------------------------------------


class DeletedCounts(_Public):
    """What a whole-namespace delete removed, by kind."""

    records: int
    composites: int
    skills: int
    sessions: int
    turns: int
    usage_logs: int
    jobs: int


class AccountDeletedCounts(DeletedCounts):
    """What deleting an account removed: the namespace and the long documents."""

    long_documents: int


class AllDeleted(_Public):
    """``DELETE /memory/all``."""

    deleted: DeletedCounts


class AccountDeleted(_Public):
    """``DELETE /auth/me``."""

    deleted: AccountDeletedCounts


class ImportErrorPublic(_Public):
    """A line of the import that failed, and why."""

    line: int
    error: str


class ImportReportPublic(_Public):
    """``POST /memory/import``: counts by type, skipped lines and the first 100 errors."""

    imported: dict[str, int]
    skipped: int
    errors: list[ImportErrorPublic]
