"""Rows of the semantic tables back into models, shared by every storage backend.

The backends store the same columns; they differ only in how list and source columns come
back (SQLite: JSON text; PostgreSQL: decoded JSONB), which ``RowDecoding`` supplies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from lycheemem.domain.models import CompositeRecord, MemoryRecord, SourceRef, Temporal

__all__ = ["TAG_COLUMNS", "Row", "RowDecoding", "composite_from_row", "record_from_row"]

TAG_COLUMNS = ("task_tags", "tool_tags", "constraint_tags", "failure_tags", "affordance_tags")


class Row(Protocol):
    """A stored row read by column name (``sqlite3.Row`` or a psycopg dict row)."""

    def __getitem__(self, key: str, /) -> Any: ...


@dataclass(frozen=True, slots=True)
class RowDecoding:
    """How one backend turns a stored list column and the ``sources`` column into values."""

    as_list: Callable[[Any], list[Any]]
    sources: Callable[[Any], list[SourceRef]]


def record_from_row(row: Row, decode: RowDecoding) -> MemoryRecord:
    """Rebuild a ``MemoryRecord`` from its row, reading list and source columns with ``decode``."""
    return MemoryRecord(
        record_id=row["record_id"],
        user_id=row["user_id"],
        memory_type=row["memory_type"],
        semantic_text=row["semantic_text"],
        normalized_text=row["normalized_text"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        entities=decode.as_list(row["entities"]),
        temporal=Temporal(row["t_ref"], row["t_valid_from"], row["t_valid_to"]),
        **{c: decode.as_list(row[c]) for c in TAG_COLUMNS},
        confidence=row["confidence"],
        source_role=row["source_role"],
        source_session_id=row["source_session_id"],
        source_turn_ids=decode.as_list(row["source_turn_ids"]),
        source_turn_refs=decode.as_list(row["source_turn_refs"]),
        sources=decode.sources(row["sources"]),
        version=row["version"],
        history=decode.as_list(row["history"]),
        retrieval_count=row["retrieval_count"],
        retrieval_hit_count=row["retrieval_hit_count"],
        action_success_count=row["action_success_count"],
        action_fail_count=row["action_fail_count"],
        last_retrieved_at=row["last_retrieved_at"],
        expired=bool(row["expired"]),
        expired_at=row["expired_at"],
        expired_reason=row["expired_reason"],
        superseded_by=row["superseded_by"],
    )


def composite_from_row(row: Row, decode: RowDecoding) -> CompositeRecord:
    """Rebuild a ``CompositeRecord`` from its row, reading list and source columns with
    ``decode``."""
    return CompositeRecord(
        composite_id=row["composite_id"],
        user_id=row["user_id"],
        memory_type=row["memory_type"],
        semantic_text=row["semantic_text"],
        normalized_text=row["normalized_text"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        source_record_ids=decode.as_list(row["source_record_ids"]),
        child_composite_ids=decode.as_list(row["child_composite_ids"]),
        level=row["level"],
        synthesis_reason=row["synthesis_reason"],
        entities=decode.as_list(row["entities"]),
        temporal=Temporal(row["t_ref"], row["t_valid_from"], row["t_valid_to"]),
        **{c: decode.as_list(row[c]) for c in TAG_COLUMNS},
        confidence=row["confidence"],
        sources=decode.sources(row["sources"]),
        retrieval_count=row["retrieval_count"],
        retrieval_hit_count=row["retrieval_hit_count"],
        action_success_count=row["action_success_count"],
        action_fail_count=row["action_fail_count"],
        last_retrieved_at=row["last_retrieved_at"],
        expired=bool(row["expired"]),
        expired_at=row["expired_at"],
        expired_reason=row["expired_reason"],
    )
