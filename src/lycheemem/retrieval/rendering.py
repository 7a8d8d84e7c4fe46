"""Search outputs built from selected candidates (API.md §2.1, §2.2, §6).

Provenance items are plain JSON-ready dicts; the context strings are rendered from them, so
``[n]`` in a context always matches ``index`` of the provenance item it cites.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lycheemem.domain.models import MAX_SOURCES, CompositeRecord, MemoryRecord, SourceRef
from lycheemem.retrieval.candidates import BREAKDOWN_KEYS, Candidate

__all__ = [
    "MAX_SOURCES",
    "constructed_context",
    "novelty_context",
    "provenance_item",
    "provenance_items",
    "semantic_result_wrapper",
    "semantic_results",
]

_CHANNEL_ORDER = (
    "fts",
    "vector",
    "normalized_vector",
    "tag",
    "temporal",
    "slot",
    "type_bias",
    "parent",
    "tree",
)


def provenance_item(candidate: Candidate, index: int) -> dict[str, Any]:
    """The API ProvenanceItem of one selected candidate; ``index`` is its 1-based citation.

    Every field of API.md §2.1 is present. Lists are fresh copies, ``sources`` holds at most
    :data:`MAX_SOURCES` entries, timestamps are passed through as stored, ``score_breakdown``
    has exactly the eight breakdown keys (missing ones as 0.0) and ``channels`` follows the
    canonical channel order.
    """
    item = candidate.item
    source = "composite" if isinstance(item, CompositeRecord) else "record"
    return {
        "index": index,
        "record_id": item.item_id,
        "source": source,
        "semantic_source_type": source,
        "memory_type": item.memory_type,
        "score": float(candidate.score),
        "score_breakdown": {k: float(candidate.breakdown.get(k, 0.0)) for k in BREAKDOWN_KEYS},
        "semantic_text": item.semantic_text,
        "entities": list(item.entities),
        "temporal": item.temporal.as_dict(),
        "task_tags": list(item.task_tags),
        "tool_tags": list(item.tool_tags),
        "constraint_tags": list(item.constraint_tags),
        "failure_tags": list(item.failure_tags),
        "affordance_tags": list(item.affordance_tags),
        **_lineage(candidate),
        "channels": _ordered_channels(candidate.channels),
        "created_at": item.created_at,
        "updated_at": item.updated_at,
    }


def provenance_items(candidates: Iterable[Candidate]) -> list[dict[str, Any]]:
    """Provenance items of ``candidates`` in the given order, numbered from 1."""
    return [provenance_item(c, n) for n, c in enumerate(candidates, start=1)]


def constructed_context(items: Sequence[Mapping[str, Any]]) -> str:
    """One block per provenance item, blocks separated by a blank line (API.md §2.2).

    Header: ``[n] type=<memory_type> source=<record|composite> score=<0.00> entities=<a, b>``,
    then the ``semantic_text`` on the next line. Empty input gives ``""``.
    """
    blocks = []
    for item in items:
        header = (
            f"[{item['index']}] type={item['memory_type']} source={item['source']} "
            f"score={float(item['score']):.2f} entities={', '.join(item.get('entities') or [])}"
        )
        blocks.append(f"{header}\n{item['semantic_text']}")
    return "\n\n".join(blocks)


def novelty_context(items: Sequence[Mapping[str, Any]]) -> str:
    """``[n] (<memory_type>, source=<record|composite>) <semantic_text>``, one line per item.

    Line breaks inside a text become spaces so each item stays on one line (API.md §6).
    """
    lines = []
    for item in items:
        text = " ".join(str(item["semantic_text"]).split())
        lines.append(f"[{item['index']}] ({item['memory_type']}, source={item['source']}) {text}")
    return "\n".join(lines)


def semantic_result_wrapper(
    provenance: Sequence[Mapping[str, Any]], context: str
) -> dict[str, Any]:
    """The SemanticResult wrapper of API.md §2.2 around ``provenance`` and its context."""
    return {
        "anchor": {
            "node_id": "compact_context",
            "name": "CompactSemanticMemory",
            "label": "SemanticContext",
            "score": 1.0,
        },
        "subgraph": {"nodes": [], "edges": []},
        "constructed_context": context,
        "provenance": [dict(p) for p in provenance],
    }


def semantic_results(provenance: Sequence[Mapping[str, Any]], context: str) -> list[dict[str, Any]]:
    """``semantic_results`` of a response: ``[]`` without provenance, else the one wrapper."""
    if not provenance:
        return []
    return [semantic_result_wrapper(provenance, context)]


def _lineage(candidate: Candidate) -> dict[str, Any]:
    item = candidate.item
    if isinstance(item, CompositeRecord):
        leaves = list(item.source_record_ids) or sorted(candidate.leaf_ids)
        return {
            "source_record_ids": leaves,
            "child_composite_ids": list(item.child_composite_ids),
            "source_session_id": None,
            "source_turn_ids": [],
            "source_turn_refs": [],
            "sources": [_source_dict(s) for s in item.sources[:MAX_SOURCES]],
        }
    return {
        "source_record_ids": [],
        "child_composite_ids": [],
        "source_session_id": item.source_session_id,
        "source_turn_ids": list(item.source_turn_ids),
        "source_turn_refs": list(item.source_turn_refs),
        "sources": _record_sources(item),
    }


def _record_sources(record: MemoryRecord) -> list[dict[str, Any]]:
    """First source plus later re-extractions, the first one ensured even if not stored."""
    sources = list(record.sources)
    first = record.source_session_id
    if first is not None and all(s.session_id != first for s in sources):
        sources.insert(
            0,
            SourceRef(
                session_id=first,
                turn_ids=list(record.source_turn_ids),
                turn_refs=list(record.source_turn_refs),
            ),
        )
    return [_source_dict(s) for s in sources[:MAX_SOURCES]]


def _source_dict(source: SourceRef) -> dict[str, Any]:
    return {
        "session_id": source.session_id,
        "turn_ids": list(source.turn_ids),
        "turn_refs": list(source.turn_refs),
    }


def _ordered_channels(channels: Iterable[str]) -> list[str]:
    known = [c for c in _CHANNEL_ORDER if c in channels]
    return known + sorted(set(channels) - set(_CHANNEL_ORDER))
