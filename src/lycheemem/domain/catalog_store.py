"""The ``CatalogStore`` and ``IndexMaintenance`` ports: browsing, bulk deletes, reconciliation.

Kept beside ``ports.py`` (which re-exports them) so that module stays small. The catalog serves
the management API (lists, the graph, deletes of one tenant); ``IndexMaintenance`` is the row
side of reconciling rows with their vectors, across every tenant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from lycheemem.domain.models import CompositeRecord, MemoryRecord, Skill

__all__ = [
    "VECTOR_TABLES",
    "CatalogStore",
    "GraphLink",
    "GraphNodeRow",
    "GraphRows",
    "IndexMaintenance",
    "IndexSource",
    "ItemRelations",
    "TenantDeletion",
]


# --- the catalog: browsing and bulk deletes of one tenant (management API) -----------------


@dataclass(slots=True)
class ItemRelations:
    """An item with its place in the tree.

    ``parents``: composites holding it as a direct member. For composites,
    ``direct_record_ids``: leaf records not covered by one of its child composites.
    """

    item: MemoryRecord | CompositeRecord
    parents: list[str]
    direct_record_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class GraphNodeRow:
    """The columns a graph node shows (``level`` is 0 for records)."""

    item_id: str
    node_kind: str
    memory_type: str
    semantic_text: str
    entities: list[str]
    confidence: float
    created_at: str
    expired: bool
    level: int = 0
    source_record_ids: list[str] = field(default_factory=list)
    child_composite_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class GraphLink:
    """One ``composite_members`` row: parent composite, member, member kind, direct flag."""

    composite_id: str
    member_id: str
    member_kind: str
    direct: bool


@dataclass(slots=True)
class GraphRows:
    """Nodes (composites by level desc, then records, newest first), links, overall totals."""

    nodes: list[GraphNodeRow]
    links: list[GraphLink]
    record_total: int
    composite_total: int


@dataclass(slots=True)
class TenantDeletion:
    """What ``CatalogStore.delete_tenant`` removed (ids where vectors must follow)."""

    record_ids: list[str]
    composite_ids: list[str]
    skill_ids: list[str]
    session_ids: list[str]
    turns: int
    usage_logs: int
    jobs: int


class CatalogStore(Protocol):
    """Browsing the caller's memory and deleting it in bulk (the management routes).

    Same contract as every store: scoped to ``user_id``, missing ids absent. The caller drops
    the returned ids' vectors from the ``VectorIndex`` (a backend whose vectors share its
    database, like PostgreSQL, already removed them in the same transaction).
    """

    async def list_items(
        self,
        user_id: str,
        *,
        kind: str,
        memory_type: str | None,
        session_id: str | None,
        include_expired: bool,
        q: str | None,
        order: str,
        offset: int,
        limit: int,
    ) -> tuple[list[MemoryRecord | CompositeRecord], int]:
        """A page of records and/or composites (``kind``: all|record|composite) and the total.

        ``q`` is matched in full text (nothing searchable in it matches nothing); ``order`` is
        ``updated_desc``, ``created_desc`` or ``confidence_desc``.
        """
        ...

    async def item_relations(self, user_id: str, item_id: str) -> ItemRelations | None:
        """The record or composite with its parents (and direct records), or None."""
        ...

    async def delete_item(self, user_id: str, item_id: str) -> tuple[list[str], list[str]]:
        """Hard-delete the item and every composite containing it: ``(record ids, composite
        ids)`` deleted, both empty when the caller has no such item."""
        ...

    async def graph(self, user_id: str, *, include_expired: bool, limit: int) -> GraphRows:
        """Up to ``limit`` nodes per kind with their member links and overall totals."""
        ...

    async def clear_graph(self, user_id: str) -> tuple[list[str], list[str], int]:
        """Delete every record, composite, link, tag and usage log: ``(record ids, composite
        ids, usage logs deleted)``."""
        ...

    async def list_skills(
        self, user_id: str, *, q: str | None, offset: int, limit: int
    ) -> tuple[list[Skill], int]:
        """The caller's skills, newest update first, optionally full-text filtered; total."""
        ...

    async def delete_skill(self, user_id: str, skill_id: str) -> bool:
        """Delete one skill; False when the caller has none with this id."""
        ...

    async def clear_skills(self, user_id: str) -> list[str]:
        """Delete every skill; their ids."""
        ...

    async def delete_tenant(self, user_id: str) -> TenantDeletion:
        """Delete all of the caller's rows (memory, skills, sessions, logs, jobs) atomically."""
        ...

    async def status_counts(self, user_id: str) -> dict[str, int]:
        """Counts of ``GET /pipeline/status`` (jobs excluded): ``session_count``,
        ``graph_node_count``, ``graph_edge_count`` (direct links between active items),
        ``skill_count``, ``record_count``, ``composite_count``, ``expired_record_count``;
        records and composites count active ones only."""
        ...


# --- index maintenance: rows and their vectors in agreement (every tenant) ----------------

VECTOR_TABLES = ("memory_records", "composite_records", "skills")
"""The tables whose rows have vectors in the ``VectorIndex`` (and an ``indexed`` flag)."""


@dataclass(slots=True)
class IndexSource:
    """What one vector-backed row is embedded from, with its vector row's flags.

    ``text``: a record's or composite's semantic text, a skill's intent; ``normalized_text``:
    the second embedded column of records and composites (None for skills); ``position``: the
    row's place in the table's paging order (``after`` of the next page).
    """

    item_id: str
    user_id: str
    text: str
    normalized_text: str | None
    memory_type: str
    level: int
    expired: bool
    position: int


class IndexMaintenance(Protocol):
    """The row side of keeping rows and vectors in agreement (docs/DECISIONS.md, "Reconcile").

    **Not tenant-scoped**, on purpose: only the storage reconciler and the offline ``reindex``
    use it. ``table`` is one of ``VECTOR_TABLES`` (anything else raises ``ValueError``); ids
    are unique across tenants within a table.
    """

    async def index_sources(
        self, table: str, *, after: int, limit: int, unindexed_only: bool
    ) -> list[IndexSource]:
        """Up to ``limit`` rows with ``position > after`` in position order (with
        ``unindexed_only``, only rows whose vectors were never confirmed written)."""
        ...

    async def existing_ids(self, table: str, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` still have a row in ``table``."""
        ...

    async def mark_indexed(self, table: str, ids: Sequence[str]) -> None:
        """Flag these rows as having their vectors written (idempotent)."""
        ...
