"""Module 2 in memory-only mode: conflict detection and similarity clustering (pure).

The consolidation engine feeds these with embeddings it already computed;
nothing here touches storage.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

__all__ = [
    "CONFLICT_TYPES",
    "cluster_by_similarity",
    "composite_text",
    "composite_type_for",
    "conflicts",
    "jaccard",
    "type_family",
]

CONFLICT_TYPES = frozenset({"fact", "preference", "constraint", "event"})
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_NEGATION = re.compile(r"\b(?:not|no longer|never|n't|no)\b|不再|不|没有", re.IGNORECASE)
_FAMILIES = {
    "preference": "preference",
    "constraint": "constraint",
    "event": "event",
    "procedure": "action",
    "tool_affordance": "action",
    "fact": "fact",
    "failure_pattern": "fact",
}
_COMPOSITE_FOR_FAMILY = {
    "preference": "composite_preference",
    "constraint": "composite_constraint",
    "event": "composite_event",
    "action": "usage_pattern",
}
MAX_COMPOSITE_CHARS = 600


def type_family(memory_type: str) -> str:
    """The clustering family of a record or composite type."""
    if memory_type.startswith("composite_") or memory_type == "usage_pattern":
        return memory_type
    return _FAMILIES.get(memory_type, "fact")


def composite_type_for(member_types: Sequence[str]) -> str:
    """The composite type that follows its members' types (MEMORY.md §12.5)."""
    families = {type_family(t) for t in member_types}
    if len(families) == 1:
        family = families.pop()
        if family in _COMPOSITE_FOR_FAMILY:
            return _COMPOSITE_FOR_FAMILY[family]
        if family.startswith("composite_") or family == "usage_pattern":
            return family
    return "composite_pattern"


def conflicts(new_text: str, old_text: str) -> bool:
    """True when two near-identical statements differ in a number, a date or a negation."""
    if set(_NUMBER.findall(new_text)) != set(_NUMBER.findall(old_text)):
        return True
    return bool(_NEGATION.search(new_text)) != bool(_NEGATION.search(old_text))


def cluster_by_similarity(
    vectors: np.ndarray, *, threshold: float, max_group: int, families: Sequence[str]
) -> list[list[int]]:
    """Union-find over pairs of one family with cosine ≥ ``threshold``.

    Returns clusters of 2..``max_group`` row indexes; larger components are
    split greedily around their most connected members.
    """
    count = len(vectors)
    if count < 2:
        return []
    similarity = vectors @ vectors.T
    parent = list(range(count))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    rows, cols = np.nonzero(np.triu(similarity >= threshold, k=1))
    for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
        if families[i] == families[j]:
            parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for index in range(count):
        groups.setdefault(find(index), []).append(index)
    clusters: list[list[int]] = []
    for members in groups.values():
        clusters.extend(_split(members, similarity, max_group))
    return [c for c in clusters if len(c) >= 2]


def _split(members: list[int], similarity: np.ndarray, max_group: int) -> list[list[int]]:
    if len(members) <= max_group:
        return [sorted(members)]
    remaining = list(members)
    parts: list[list[int]] = []
    while remaining:
        sub = similarity[np.ix_(remaining, remaining)]
        seed = remaining[int(np.argmax(sub.sum(axis=1)))]
        order = sorted(remaining, key=lambda j: -similarity[seed, j])
        group = order[:max_group]
        parts.append(sorted(group))
        remaining = [j for j in remaining if j not in group]
    return parts


def composite_text(texts: Sequence[str], limit: int = MAX_COMPOSITE_CHARS) -> str:
    """Members' texts de-duplicated and joined with ``; `` (at most ``limit`` characters)."""
    seen: set[str] = set()
    parts: list[str] = []
    for text in texts:
        clean = text.strip().rstrip(".。")
        key = clean.casefold()
        if clean and key not in seen:
            seen.add(key)
            parts.append(clean)
    joined = "; ".join(parts)
    if len(joined) > limit:
        joined = joined[: limit - 1].rstrip() + "…"
    return joined


def jaccard(a: frozenset[str] | set[str], b: frozenset[str] | set[str]) -> float:
    """Jaccard similarity of two sets (0 for two empty sets)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0
