"""Domain models: plain dataclasses shared by every layer below the API.

Pydantic appears only at the edges (API schemas, LLM output validation).
Every stored object carries ``user_id`` (``""`` is the anonymous namespace).
Timestamps are ISO-8601 UTC strings with milliseconds and ``Z``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = [
    "MAX_SOURCES",
    "union_sources",
    "ACTION_LIKE_TYPES",
    "COMPOSITE_TYPES",
    "RECORD_TYPES",
    "ActionState",
    "CompositeRecord",
    "ExtractedRecord",
    "ExtractedSkill",
    "Job",
    "MemoryRecord",
    "SearchPlan",
    "Session",
    "Skill",
    "SourceRef",
    "Summary",
    "Temporal",
    "Turn",
    "UsageLog",
    "User",
    "VectorRow",
    "BatchCommit",
]

Role = Literal["user", "assistant"]

RECORD_TYPES: tuple[str, ...] = (
    "fact",
    "preference",
    "event",
    "constraint",
    "procedure",
    "failure_pattern",
    "tool_affordance",
)
COMPOSITE_TYPES: tuple[str, ...] = (
    "composite_preference",
    "composite_constraint",
    "composite_event",
    "usage_pattern",
    "composite_pattern",
)
ACTION_LIKE_TYPES: frozenset[str] = frozenset(
    {
        "procedure",
        "constraint",
        "failure_pattern",
        "tool_affordance",
        "composite_constraint",
        "usage_pattern",
    }
)
TAG_KINDS: tuple[str, ...] = ("task", "tool", "constraint", "failure", "affordance")


@dataclass(slots=True)
class User:
    """A registered account."""

    user_id: str
    username: str
    display_name: str
    created_at: str
    password_hash: str = ""
    token_version: int = 0


@dataclass(slots=True)
class Session:
    """A conversation of one tenant, keyed by ``(user_id, session_id)``."""

    user_id: str
    session_id: str
    topic: str | None
    tags: list[str]
    created_at: str
    updated_at: str
    turn_count: int = 0
    consolidated_until: int = 0


@dataclass(slots=True)
class Turn:
    """One user or assistant message; ``turn_index`` is 0-based within the session."""

    user_id: str
    session_id: str
    turn_index: int
    role: Role
    content: str
    created_at: str
    token_count: int = 0
    speaker: str | None = None
    turn_id: str | None = None
    metadata: dict[str, Any] | None = None
    compressed: bool = False


@dataclass(slots=True)
class Summary:
    """A rolling working-memory summary covering turns ``< boundary_index``."""

    user_id: str
    session_id: str
    boundary_index: int
    content: str
    token_count: int
    created_at: str
    summary_id: int = 0


@dataclass(slots=True)
class Temporal:
    """When a memory applies: a reference time and an optional validity interval."""

    t_ref: str | None = None
    t_valid_from: str | None = None
    t_valid_to: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """Return the API shape ``{t_ref, t_valid_from, t_valid_to}``."""
        return {
            "t_ref": self.t_ref,
            "t_valid_from": self.t_valid_from,
            "t_valid_to": self.t_valid_to,
        }


@dataclass(slots=True)
class SourceRef:
    """Where a memory came from: one session and the turns in it."""

    session_id: str
    turn_ids: list[int] = field(default_factory=list)
    turn_refs: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the API shape ``{session_id, turn_ids, turn_refs}``."""
        return {
            "session_id": self.session_id,
            "turn_ids": self.turn_ids,
            "turn_refs": self.turn_refs,
        }


MAX_SOURCES = 20
"""Most sources one memory keeps (and one search result shows)."""


def union_sources(groups: Iterable[Iterable[SourceRef]]) -> list[SourceRef]:
    """Merge source lists per session (turns unioned, sorted), first ``MAX_SOURCES`` sessions."""
    merged: dict[str, SourceRef] = {}
    for group in groups:
        for source in group:
            mine = merged.setdefault(source.session_id, SourceRef(source.session_id))
            mine.turn_ids = sorted(set(mine.turn_ids) | set(source.turn_ids))
            mine.turn_refs = sorted(set(mine.turn_refs) | set(source.turn_refs))
    return list(merged.values())[:MAX_SOURCES]


@dataclass(slots=True)
class ExtractedRecord:
    """A candidate memory produced by an encoder (LLM or heuristic), before identity."""

    memory_type: str
    semantic_text: str
    normalized_text: str
    entities: list[str] = field(default_factory=list)
    temporal: Temporal = field(default_factory=Temporal)
    task_tags: list[str] = field(default_factory=list)
    tool_tags: list[str] = field(default_factory=list)
    constraint_tags: list[str] = field(default_factory=list)
    failure_tags: list[str] = field(default_factory=list)
    affordance_tags: list[str] = field(default_factory=list)
    source_turn_indexes: list[int] = field(default_factory=list)
    source_role: str = "user"
    confidence: float | None = None


@dataclass(slots=True)
class ExtractedSkill:
    """A candidate skill produced by an encoder."""

    intent: str
    doc_markdown: str
    conditions: str = ""
    source_turn_indexes: list[int] = field(default_factory=list)


@dataclass(slots=True)
class MemoryRecord:
    """One typed, self-contained, de-duplicated memory (a leaf of the memory tree)."""

    record_id: str
    user_id: str
    memory_type: str
    semantic_text: str
    normalized_text: str
    created_at: str
    updated_at: str
    entities: list[str] = field(default_factory=list)
    temporal: Temporal = field(default_factory=Temporal)
    task_tags: list[str] = field(default_factory=list)
    tool_tags: list[str] = field(default_factory=list)
    constraint_tags: list[str] = field(default_factory=list)
    failure_tags: list[str] = field(default_factory=list)
    affordance_tags: list[str] = field(default_factory=list)
    confidence: float = 0.7
    source_role: str = "user"
    source_session_id: str | None = None
    source_turn_ids: list[int] = field(default_factory=list)
    source_turn_refs: list[str] = field(default_factory=list)
    sources: list[SourceRef] = field(default_factory=list)
    version: int = 1
    history: list[dict[str, Any]] = field(default_factory=list)
    retrieval_count: int = 0
    retrieval_hit_count: int = 0
    action_success_count: int = 0
    action_fail_count: int = 0
    last_retrieved_at: str | None = None
    expired: bool = False
    expired_at: str | None = None
    expired_reason: str | None = None
    superseded_by: str | None = None

    @property
    def item_id(self) -> str:
        """The id shared with composites in search results."""
        return self.record_id


@dataclass(slots=True)
class CompositeRecord:
    """A fused memory over records and/or child composites (an inner tree node)."""

    composite_id: str
    user_id: str
    memory_type: str
    semantic_text: str
    normalized_text: str
    created_at: str
    updated_at: str
    source_record_ids: list[str] = field(default_factory=list)
    child_composite_ids: list[str] = field(default_factory=list)
    level: int = 1
    synthesis_reason: str = ""
    entities: list[str] = field(default_factory=list)
    temporal: Temporal = field(default_factory=Temporal)
    task_tags: list[str] = field(default_factory=list)
    tool_tags: list[str] = field(default_factory=list)
    constraint_tags: list[str] = field(default_factory=list)
    failure_tags: list[str] = field(default_factory=list)
    affordance_tags: list[str] = field(default_factory=list)
    confidence: float = 0.7
    sources: list[SourceRef] = field(default_factory=list)
    retrieval_count: int = 0
    retrieval_hit_count: int = 0
    action_success_count: int = 0
    action_fail_count: int = 0
    last_retrieved_at: str | None = None
    expired: bool = False
    expired_at: str | None = None
    expired_reason: str | None = None

    @property
    def item_id(self) -> str:
        """The id shared with records in search results."""
        return self.composite_id


@dataclass(slots=True)
class Skill:
    """A reusable procedure (procedural memory)."""

    skill_id: str
    user_id: str
    intent: str
    doc_markdown: str
    created_at: str
    updated_at: str
    conditions: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    success_count: int = 0
    fail_count: int = 0
    usage_count: int = 0
    last_used: str | None = None
    source_session_id: str | None = None
    source_turn_ids: list[int] = field(default_factory=list)


@dataclass(slots=True)
class UsageLog:
    """One retrieval: what was scored, what was kept, and the outcome feedback."""

    log_id: str
    user_id: str
    session_id: str | None
    created_at: str
    query: str
    mode: str
    plan: dict[str, Any] = field(default_factory=dict)
    action_state: dict[str, Any] = field(default_factory=dict)
    retrieved_ids: list[str] = field(default_factory=list)
    kept_ids: list[str] = field(default_factory=list)
    response_excerpt: str | None = None
    user_feedback: str | None = None
    action_outcome: str | None = None
    feedback_source: str | None = None
    feedback_note: str | None = None
    feedback_at: str | None = None
    applied_counters: dict[str, Any] | None = None


@dataclass(slots=True)
class Job:
    """A durable background job (consolidation; other packages may add kinds)."""

    job_id: str
    kind: str
    user_id: str
    session_id: str
    status: str
    created_at: str
    not_before: str
    priority: int = 0
    attempts: int = 0
    max_attempts: int = 3
    lease_expires_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    retrieved_context: str = ""
    force: bool = False
    result: dict[str, Any] | None = None
    error: str | None = None
    cancel_requested: bool = False


@dataclass(slots=True)
class ActionState:
    """What the agent is trying to do right now (MEMORY.md §7.1)."""

    current_subgoal: str = ""
    tentative_action: str = ""
    last_tool_name: str = ""
    last_tool_result: str = ""
    missing_slots: list[str] = field(default_factory=list)
    known_constraints: list[str] = field(default_factory=list)
    available_tools: list[str] = field(default_factory=list)
    failure_signal: str = ""
    token_budget: int = 0
    recent_context_excerpt: str = ""


@dataclass(slots=True)
class SearchPlan:
    """How to search semantic memory for one query (MEMORY.md §7.2)."""

    mode: str = "answer"
    semantic_queries: list[str] = field(default_factory=list)
    pragmatic_queries: list[str] = field(default_factory=list)
    temporal_filter: dict[str, str] | None = None
    tool_hints: list[str] = field(default_factory=list)
    required_constraints: list[str] = field(default_factory=list)
    required_affordances: list[str] = field(default_factory=list)
    missing_slots: list[str] = field(default_factory=list)
    tree_retrieval_mode: str = "balanced"
    tree_expansion_depth: int = 1
    include_leaf_records: bool = False
    depth: int = 5
    reasoning: str = ""
    planner: str = "heuristic"
    hypothetical_skill: str = ""


@dataclass(frozen=True, slots=True, eq=False)
class VectorRow:
    """One row to upsert; fields a table lacks are ignored.

    ``item_id`` fills the table's id column (``record_id``, ``composite_id`` or
    ``skill_id``). Vectors are stored L2-normalised; a ``normalized_vector`` of
    None stores null, and such a row is invisible to ``normalized_vector`` searches.
    """

    item_id: str
    user_id: str
    vector: np.ndarray
    normalized_vector: np.ndarray | None = None
    memory_type: str = ""
    level: int = 0
    expired: bool = False


@dataclass(slots=True)
class BatchCommit:
    """Everything one consolidation batch writes, committed in one transaction."""

    user_id: str
    session_id: str
    watermark: int
    records: list[MemoryRecord] = field(default_factory=list)
    composites: list[tuple[CompositeRecord, list[str]]] = field(default_factory=list)
    expire_covering: list[str] = field(default_factory=list)
    expire_reason: str = "source_updated"
    skills: list[Skill] = field(default_factory=list)
    now: str = ""
