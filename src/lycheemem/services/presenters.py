"""Public shapes shared by REST, MCP and the export: memory items (API.md §2.8), skills,
graph nodes and the search response.

Shared by the records/graph/skills routes and the JSONL export so one item
looks the same everywhere. None of them carries ``user_id``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from lycheemem.domain.models import CompositeRecord, MemoryRecord, Skill, SourceRef
from lycheemem.domain.ports import GraphNodeRow
from lycheemem.retrieval.search import SearchOutcome

__all__ = [
    "TAG_FIELDS",
    "search_response",
    "composite_public",
    "item_public",
    "node_of",
    "node_public",
    "record_public",
    "skill_public",
]

TAG_FIELDS = ("task_tags", "tool_tags", "constraint_tags", "failure_tags", "affordance_tags")
_COUNTERS = ("retrieval_count", "retrieval_hit_count", "action_success_count", "action_fail_count")


def _sources(sources: list[SourceRef]) -> list[dict[str, Any]]:
    return [source.as_dict() for source in sources]


def _common(item: MemoryRecord | CompositeRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "memory_type": item.memory_type,
        "semantic_text": item.semantic_text,
        "normalized_text": item.normalized_text,
        "entities": list(item.entities),
        "temporal": item.temporal.as_dict(),
    }
    out.update({name: list(getattr(item, name)) for name in TAG_FIELDS})
    out["confidence"] = item.confidence
    return out


def _tail(item: MemoryRecord | CompositeRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "sources": _sources(item.sources),
        "created_at": item.created_at,
        "updated_at": item.updated_at,
    }
    out.update({name: getattr(item, name) for name in _COUNTERS})
    out.update(
        {
            "last_retrieved_at": item.last_retrieved_at,
            "expired": item.expired,
            "expired_at": item.expired_at,
            "expired_reason": item.expired_reason,
        }
    )
    return out


def record_public(record: MemoryRecord) -> dict[str, Any]:
    """A record as the memory item of API.md §2.8 (``kind: "record"``)."""
    out: dict[str, Any] = {"kind": "record", "record_id": record.record_id, **_common(record)}
    out.update(
        {
            "source_role": record.source_role,
            "source_session_id": record.source_session_id,
            "source_turn_ids": list(record.source_turn_ids),
            "source_turn_refs": list(record.source_turn_refs),
        }
    )
    out.update(_tail(record))
    out["version"] = record.version
    out["superseded_by"] = record.superseded_by
    return out


def composite_public(composite: CompositeRecord) -> dict[str, Any]:
    """A composite as the memory item of API.md §2.8 (``kind: "composite"``)."""
    out: dict[str, Any] = {
        "kind": "composite",
        "composite_id": composite.composite_id,
        "record_id": composite.composite_id,
        **_common(composite),
        "source_record_ids": list(composite.source_record_ids),
        "child_composite_ids": list(composite.child_composite_ids),
        "level": composite.level,
        "synthesis_reason": composite.synthesis_reason,
    }
    out.update(_tail(composite))
    return out


def item_public(item: MemoryRecord | CompositeRecord) -> dict[str, Any]:
    """Either memory item shape, by the item's class."""
    if isinstance(item, CompositeRecord):
        return composite_public(item)
    return record_public(item)


def skill_public(skill: Skill) -> dict[str, Any]:
    """A skill as listed by ``GET /memory/skills``."""
    return {
        "id": skill.skill_id,
        "skill_id": skill.skill_id,
        "intent": skill.intent,
        "doc_markdown": skill.doc_markdown,
        "conditions": skill.conditions,
        "metadata": dict(skill.metadata),
        "success_count": skill.success_count,
        "usage_count": skill.usage_count,
        "last_used": skill.last_used,
        "created_at": skill.created_at,
        "updated_at": skill.updated_at,
    }


def node_public(node: GraphNodeRow) -> dict[str, Any]:
    """A graph node of ``GET /memory/graph`` (name = first 80 chars of the text)."""
    properties: dict[str, Any] = {
        "semantic_text": node.semantic_text,
        "memory_type": node.memory_type,
        "entities": list(node.entities),
        "confidence": node.confidence,
        "created_at": node.created_at,
        "expired": node.expired,
    }
    if node.node_kind == "composite":
        properties["source_record_ids"] = list(node.source_record_ids)
        properties["child_composite_ids"] = list(node.child_composite_ids)
    return {
        "id": node.item_id,
        "name": node.semantic_text[:80],
        "label": node.memory_type,
        "node_kind": node.node_kind,
        "level": node.level,
        "properties": properties,
    }


def node_of(item: MemoryRecord | CompositeRecord) -> GraphNodeRow:
    """The graph-node columns of a full record or composite."""
    node = GraphNodeRow(
        item_id=item.item_id,
        node_kind="record",
        memory_type=item.memory_type,
        semantic_text=item.semantic_text,
        entities=list(item.entities),
        confidence=item.confidence,
        created_at=item.created_at,
        expired=item.expired,
    )
    if isinstance(item, CompositeRecord):
        node.node_kind = "composite"
        node.level = item.level
        node.source_record_ids = list(item.source_record_ids)
        node.child_composite_ids = list(item.child_composite_ids)
    return node


def search_response(outcome: SearchOutcome) -> dict[str, Any]:
    """The ``POST /memory/search`` response of API.md §6 (REST and the MCP search tool)."""
    results = outcome.semantic_results
    return {
        "query": outcome.query,
        "semantic_results": results,
        "graph_results": results,
        "skill_results": outcome.skills,
        "novelty_retrieved_context": outcome.novelty_context,
        "total": outcome.total,
        "retrieval_plan": asdict(outcome.plan),
        "action_state": asdict(outcome.action_state),
        "search_mode": outcome.plan.mode,
        "usage_log_id": outcome.usage_log_id,
        "timing_ms": outcome.timing_ms,
    }
