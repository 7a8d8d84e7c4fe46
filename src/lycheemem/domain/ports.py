"""The ports: every interface the use cases depend on; storage and providers implement them.

Only the composition root (``bootstrap``, ``app``, ``cli``, ``reindex``, ``migrate``) names the
concrete classes (``storage.*``, ``providers``); everything else is typed by these
protocols, so another backend (e.g. PostgreSQL) is a new set of classes passing the same
contract tests.

Conventions: every method that touches storage or a provider is ``async``;
scores are higher-is-better in ``[0, 1]``; every store method takes the
caller's ``user_id`` and never returns another tenant's rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from lycheemem.domain.catalog_store import (
    VECTOR_TABLES,
    CatalogStore,
    GraphLink,
    GraphNodeRow,
    GraphRows,
    IndexMaintenance,
    IndexSource,
    ItemRelations,
    TenantDeletion,
)
from lycheemem.domain.models import (
    BatchCommit,
    CompositeRecord,
    Job,
    MemoryRecord,
    Session,
    Skill,
    Summary,
    Turn,
    UsageLog,
    User,
    VectorRow,
)
from lycheemem.domain.provider_ports import (
    LLM,
    ChatMessage,
    Embedder,
    EmbedKind,
    LLMResponse,
    LLMUsage,
    ModelT,
    TokenCounter,
)
from lycheemem.domain.transfer_store import (
    PageCursor,
    SessionImport,
    SessionImportResult,
    TransferStore,
)

__all__ = [
    "RETRY_DELAYS_S",
    "AppendOutcome",
    "CatalogStore",
    "CommitResult",
    "ConsolidationQueue",
    "FtsHit",
    "GraphLink",
    "GraphNodeRow",
    "GraphRows",
    "IndexMaintenance",
    "IndexSource",
    "ItemRelations",
    "JobStore",
    "SemanticStore",
    "SessionDeletion",
    "SessionListItem",
    "SessionStore",
    "TenancyStore",
    "TenantDeletion",
    "PageCursor",
    "SessionImport",
    "SessionImportResult",
    "TransferStore",
    "UsageStore",
    "UserStore",
    "VECTOR_TABLES",
    "VectorIndex",
    "VectorRow",
    "LLM",
    "ChatMessage",
    "EmbedKind",
    "Embedder",
    "ModelT",
    "LLMResponse",
    "LLMUsage",
    "TokenCounter",
]

# --- storage value types ------------------------------------------------------------------


@dataclass(slots=True)
class AppendOutcome:
    """Result of appending a turn: ``duplicate`` when its ``turn_id`` was already stored."""

    status: str
    turn_index: int
    turn_count: int
    turn_id: str | None


@dataclass(slots=True)
class SessionListItem:
    """One row of ``GET /sessions``."""

    session: Session
    last_message: str
    first_user_message: str


@dataclass(slots=True)
class CommitResult:
    """What a batch commit changed beyond what it was given."""

    composites_expired: list[str]
    session_missing: bool = False


@dataclass(slots=True)
class FtsHit:
    """One full-text match: the item id and its BM25 rank position (0 = best)."""

    item_id: str
    rank: int


@dataclass(slots=True)
class SessionDeletion:
    """What deleting a session removed (ids of forgotten items, whose vectors must follow)."""

    turns_deleted: int
    usage_logs_deleted: int
    jobs_cancelled: int
    record_ids: list[str] = field(default_factory=list)
    composite_ids: list[str] = field(default_factory=list)


# --- storage ports ------------------------------------------------------------------------
#
# Contract shared by every store: each method is scoped to the caller's ``user_id`` (or to ids
# the caller owns) and never reads or changes another tenant's rows; timestamps are the ISO
# strings of ``lycheemem.clock``; missing ids are simply absent from returned mappings.


class SessionStore(Protocol):
    """Sessions, their turns (in index order) and the working-memory summaries."""

    async def append_turn(self, turn: Turn, *, now: str) -> AppendOutcome:
        """Append ``turn`` (session created on first use); a repeated ``turn_id`` is a
        ``duplicate`` that stores nothing."""
        ...

    async def get(self, user_id: str, session_id: str) -> Session | None:
        """The caller's session, or None."""
        ...

    async def turns(
        self,
        user_id: str,
        session_id: str,
        *,
        offset: int = 0,
        limit: int = -1,
        active_only: bool = False,
    ) -> list[Turn]:
        """Turns in index order from ``offset`` (``limit`` -1: all)."""
        ...

    async def summaries(self, user_id: str, session_id: str) -> list[Summary]:
        """Every summary of the session, oldest first."""
        ...

    async def working_set(
        self, user_id: str, session_id: str
    ) -> tuple[Session | None, Summary | None, list[Turn]]:
        """The session, its latest summary and its active turns, read consistently."""
        ...

    async def list_sessions(
        self, user_id: str, *, offset: int, limit: int
    ) -> tuple[list[SessionListItem], int]:
        """The caller's sessions, newest update first, with the overall total."""
        ...

    async def update_meta(
        self,
        user_id: str,
        session_id: str,
        *,
        topic: str | None,
        tags: list[str] | None,
        set_topic: bool,
        now: str,
    ) -> Session:
        """Set topic and/or tags (creating the session if needed); unsent fields stay."""
        ...

    async def apply_compression(
        self,
        user_id: str,
        session_id: str,
        *,
        summary: Summary,
        folded_indexes: list[int],
        expected_previous_summary_id: int | None,
    ) -> bool:
        """Store ``summary`` and mark ``folded_indexes`` compressed atomically; False (nothing
        written) when the latest summary is no longer ``expected_previous_summary_id``."""
        ...


class TenancyStore(Protocol):
    """Deleting a session with everything attached to it."""

    async def delete_session(
        self, user_id: str, session_id: str, *, forget_memories: bool = False
    ) -> SessionDeletion:
        """Delete the session, its turns, summaries, usage logs and jobs atomically; with
        ``forget_memories`` also the items only it taught (their ids are returned so the
        caller can drop their vectors)."""
        ...


class SemanticStore(Protocol):
    """Records, composites and skills: lookups, the recall channels and batch commits."""

    async def records(self, user_id: str, ids: Sequence[str]) -> dict[str, MemoryRecord]:
        """The caller's records with these ids."""
        ...

    async def composites(self, user_id: str, ids: Sequence[str]) -> dict[str, CompositeRecord]:
        """The caller's composites with these ids."""
        ...

    async def skills(self, user_id: str, ids: Sequence[str]) -> dict[str, Skill]:
        """The caller's skills with these ids."""
        ...

    async def covering(self, user_id: str, ids: Sequence[str]) -> dict[str, list[str]]:
        """Active composites covering each id."""
        ...

    async def fts(
        self,
        user_id: str,
        text: str,
        *,
        table: str,
        limit: int,
        memory_types: Sequence[str] | None = None,
        df: Callable[[str], float] | None = None,
        max_share: float = ...,
        crowded: bool = False,
    ) -> list[FtsHit]:
        """Full-text search of ``text`` over the caller's active items of ``table``, best
        first; terms whose document share ``df`` exceeds ``max_share`` are pruned."""
        ...

    async def tags(
        self, user_id: str, wanted: dict[str, Sequence[str]], limit: int
    ) -> list[tuple[str, str, set[str]]]:
        """Tag-channel hits ``(item_id, item_kind, matched tags)``."""
        ...

    async def temporal(
        self, user_id: str, since: str, until: str, limit: int
    ) -> list[tuple[str, str]]:
        """Temporal-channel hits ``(item_id, item_kind)`` overlapping ``[since, until]``."""
        ...

    async def follow_ups(
        self, user_id: str, session_id: str, after_turn: int, turns: int, limit: int
    ) -> list[str]:
        """Ids of the caller's active records said in the turns right after ``after_turn``."""
        ...

    async def records_with_fts(
        self, user_id: str, ids: Sequence[str]
    ) -> tuple[dict[str, MemoryRecord], dict[str, tuple[str, str]]]:
        """The caller's records with these ids and their indexed ``(fts_text, fts_tags)``."""
        ...

    async def composites_with_fts(
        self, user_id: str, ids: Sequence[str]
    ) -> tuple[dict[str, CompositeRecord], dict[str, tuple[str, str]]]:
        """The caller's composites with these ids and their indexed ``(fts_text, fts_tags)``."""
        ...

    def record_retrieval_nowait(self, log: UsageLog, skill_ids: Sequence[str], now: str) -> bool:
        """Queue the usage log and retrieval counters without waiting; False if not queued."""
        ...

    async def skipped_turns(self, user_id: str, *, limit: int = 10) -> dict[str, object]:
        """``{"count": n, "recent": [...]}``: how many of the caller's turns consolidation
        skipped, and the latest ``limit`` of them (session, turn index, job, error, time)."""
        ...

    async def term_stats(self, user_id: str, terms: Sequence[str]) -> tuple[int, dict[str, int]]:
        """Active record count and per-term document frequency in the caller's memory."""
        ...

    async def commit_batch(self, batch: BatchCommit) -> CommitResult:
        """Write one consolidation batch atomically (nothing, ``session_missing``, if the
        session is gone)."""
        ...

    async def mark_indexed(
        self, *, record_ids: Sequence[str], composite_ids: Sequence[str], skill_ids: Sequence[str]
    ) -> None:
        """Flag rows whose vectors are now in the vector index."""
        ...

    async def skip_turn(
        self, *, user_id: str, session_id: str, turn_index: int, job_id: str, error: str, now: str
    ) -> None:
        """Record that consolidation gave up on one turn and move the watermark past it."""
        ...


class VectorIndex(Protocol):
    """Per-tenant vectors of records, composites and skills (cosine similarity)."""

    async def upsert(self, table: str, rows: Sequence[VectorRow]) -> None:
        """Insert or replace ``rows`` by id; the last duplicate wins."""
        ...

    async def search(
        self,
        table: str,
        user_id: str,
        queries: np.ndarray,
        *,
        column: str = "vector",
        k: int,
        include_expired: bool = False,
        exact: bool = False,
    ) -> list[list[tuple[str, float]]]:
        """Per query row, the tenant's top ``k`` ``(id, cosine)``, best first.

        ``exact`` bypasses an approximate index (to measure its recall).
        """
        ...

    async def get_vectors(
        self, table: str, user_id: str, ids: Sequence[str], column: str = "vector"
    ) -> dict[str, np.ndarray]:
        """The tenant's stored vectors for ``ids``, expired included; missing ones omitted."""
        ...

    async def set_expired(
        self, table: str, user_id: str, ids: Sequence[str], expired: bool = True
    ) -> None:
        """Flag the tenant's rows expired (hidden from default searches) or active again."""
        ...

    async def delete(self, table: str, user_id: str, ids: Sequence[str]) -> None:
        """Delete the tenant's rows with these ids; other tenants' ids are untouched."""
        ...

    async def delete_user(self, user_id: str) -> None:
        """Delete every vector of the tenant."""
        ...

    async def count(self, table: str, user_id: str) -> int:
        """Rows the tenant has in ``table``, expired ones included."""
        ...

    async def all_ids(self, table: str) -> list[tuple[str, str]]:
        """``(user_id, item_id)`` of every row of **every** tenant (reconciliation only)."""
        ...


RETRY_DELAYS_S = (30, 120, 600)
"""Seconds before a failed job's 1st, 2nd and later retries."""


class JobStore(Protocol):
    """The durable background-job queue (leases, retries, cancellation)."""

    async def enqueue(self, **fields: Any) -> Job:
        """Queue a job (debounced per session and kind by the implementation)."""
        ...

    async def claim(
        self,
        *,
        now: str,
        lease_until: str,
        kinds: tuple[str, ...],
        busy_sessions: set[tuple[str, str]],
    ) -> Job | None:
        """Atomically take the best eligible queued job (priority, then age)."""
        ...

    async def renew(self, job_id: str, *, lease_until: str) -> bool:
        """Extend a running job's lease; False if it is no longer running."""
        ...

    async def is_cancelled(self, job_id: str) -> bool:
        """True when the job was cancelled (or deleted) since it started."""
        ...

    async def finish(self, job_id: str, *, now: str, result: dict[str, Any]) -> None:
        """Mark a job done with its result."""
        ...

    async def fail(
        self, job_id: str, *, now: str, error: str, result: dict[str, Any], retry_at: str | None
    ) -> None:
        """Requeue for ``retry_at``, or mark failed when ``retry_at`` is None."""
        ...

    async def cancel(self, job_id: str, *, now: str) -> None:
        """Finish a cancelled job as failed with error ``cancelled``."""
        ...

    async def requeue_running(self) -> int:
        """Return jobs left ``running`` by a dead process to the queue (startup)."""
        ...

    async def get(self, user_id: str, job_id: str) -> Job | None:
        """The caller's job, or None."""
        ...

    async def latest(self, user_id: str, session_id: str | None, kind: str) -> Job | None:
        """The caller's most recent job of ``kind`` (of that session, if given)."""
        ...

    async def counts(self, user_id: str | None = None) -> dict[str, int]:
        """Number of jobs by status (of one tenant, or all when ``user_id`` is None)."""
        ...


class UsageStore(Protocol):
    """Usage logs of retrievals and the outcome feedback on them (counters included)."""

    async def label_latest_unresolved(
        self, user_id: str, session_id: str, *, since: str, feedback: str, outcome: str, now: str
    ) -> tuple[str, list[str]] | None:
        """Label the session's newest unresolved action/mixed log created since ``since`` and
        bump its kept items' counters, atomically; ``(log_id, updated ids)`` or None."""
        ...

    async def label_explicit(
        self,
        user_id: str,
        *,
        usage_log_id: str | None,
        session_id: str | None,
        record_ids: Sequence[str] | None,
        feedback: str,
        outcome: str,
        note: str | None,
        now: str,
    ) -> tuple[str | None, list[str]]:
        """Label the given log (else the session's newest, else bare ``record_ids``) atomically;
        ``UsageLogNotFound``/``RecordNotFound`` when a named target is not the caller's."""
        ...

    async def set_response_excerpt(self, user_id: str, log_id: str, excerpt: str) -> None:
        """Store the start of the answer on the usage log."""
        ...

    async def get(self, user_id: str, log_id: str) -> UsageLog | None:
        """The caller's usage log, or None."""
        ...

    async def session_feedback(self, user_id: str, session_id: str) -> dict[str, str]:
        """``{log_id: feedback}`` for the labelled logs of the caller's session."""
        ...


class UserStore(Protocol):
    """Accounts (usernames are unique case-insensitively)."""

    async def create(self, user: User) -> User:
        """Insert ``user``; ``UsernameTaken`` when the name exists."""
        ...

    async def by_username(self, username: str) -> User | None:
        """The user with this name (case-insensitive), or None."""
        ...

    async def by_id(self, user_id: str) -> User | None:
        """The user with this id, or None."""
        ...

    async def bump_token_version(self, user_id: str) -> int | None:
        """Increase the user's token version (revoking earlier tokens); None if no such user."""
        ...

    async def delete(self, user_id: str) -> bool:
        """Delete the account row; False when it did not exist."""
        ...


class ConsolidationQueue(Protocol):
    """Where the chat graph queues background consolidation of a session."""

    async def enqueue(
        self, *, user_id: str, session_id: str, retrieved_context: str = "", auto: bool = False
    ) -> Job | None:
        """Queue (debounced) consolidation of the session's new turns; None when skipped."""
        ...
