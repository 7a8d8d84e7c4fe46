"""The in-flight shape of one recalled memory during a semantic search.

A :class:`Candidate` wraps a stored record or composite together with what recall learned about
it (channels, BM25 rank, matched tags, cached vectors and FTS text) and what the scorer computes
(``score`` and its ``breakdown``). Selection and rendering read only this object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from lycheemem.domain.models import CompositeRecord, MemoryRecord

__all__ = ["BREAKDOWN_KEYS", "Candidate", "CandidateKind"]

CandidateKind = Literal["record", "composite"]

BREAKDOWN_KEYS: tuple[str, ...] = (
    "semantic",
    "action_utility",
    "slot_utility",
    "temporal_fit",
    "recency",
    "evidence_density",
    "token_cost",
    "reflection_fit",
)


@dataclass(slots=True)
class Candidate:
    """One recalled item of a search, before and after scoring.

    ``vector`` / ``normalized_vector`` are the stored L2-normalised float32 embeddings of
    ``semantic_text`` / ``normalized_text`` (``None`` when unknown). ``leaf_ids`` holds every leaf
    record id of a composite and ``descendant_ids`` every descendant composite id plus the leaf
    ids; both are empty for records. ``parent_ids`` lists composites known to contain the item
    directly. ``score`` and ``breakdown`` are written by
    :func:`lycheemem.retrieval.scoring.score_candidates`; ``breakdown`` then has exactly the
    keys of :data:`BREAKDOWN_KEYS`.
    """

    item: MemoryRecord | CompositeRecord
    kind: CandidateKind
    vector: np.ndarray | None = None
    normalized_vector: np.ndarray | None = None
    fts_text: str = ""
    fts_tags: str = ""
    channels: set[str] = field(default_factory=set)
    bm25_rank: int | None = None
    matched_tags: set[str] = field(default_factory=set)
    leaf_ids: frozenset[str] = frozenset()
    descendant_ids: frozenset[str] = frozenset()
    parent_ids: list[str] = field(default_factory=list)
    score: float = 0.0
    breakdown: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_item(cls, item: MemoryRecord | CompositeRecord, **fields: object) -> Candidate:
        """Build a candidate whose ``kind`` follows the item's class; other fields by keyword."""
        kind: CandidateKind = "composite" if isinstance(item, CompositeRecord) else "record"
        return cls(item=item, kind=kind, **fields)  # type: ignore[arg-type]

    @property
    def item_id(self) -> str:
        """The record id or composite id."""
        return self.item.item_id

    @property
    def memory_type(self) -> str:
        """The item's memory type (one of the record or composite types)."""
        return self.item.memory_type

    @property
    def semantic_text(self) -> str:
        """The item's self-contained text."""
        return self.item.semantic_text

    @property
    def is_composite(self) -> bool:
        """True for composites (inner tree nodes)."""
        return self.kind == "composite"

    def covered_ids(self) -> frozenset[str]:
        """Ids this item covers: for composites every leaf and descendant composite, else empty.

        Falls back on the stored ``source_record_ids`` (all leaves) and ``child_composite_ids``
        so a composite covers its members even when recall did not fill ``leaf_ids``.
        """
        item = self.item
        if not isinstance(item, CompositeRecord):
            return frozenset()
        return (
            self.leaf_ids
            | self.descendant_ids
            | frozenset(item.source_record_ids)
            | frozenset(item.child_composite_ids)
        )

    def leaf_count(self) -> int:
        """Number of leaf records under a composite (0 for records)."""
        item = self.item
        if not isinstance(item, CompositeRecord):
            return 0
        return len(self.leaf_ids | frozenset(item.source_record_ids))
