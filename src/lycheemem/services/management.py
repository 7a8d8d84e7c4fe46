"""ManagementService: browse, delete, export and import one tenant's memory.

Routes parse input, call one method here and shape the response. Every method
takes the caller's ``user_id`` and touches only that namespace; deletes remove
SQLite rows first (the source of truth) and then the matching vectors.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from lycheemem.domain.bulk import AdmissionGate, bulk_work, offload
from lycheemem.domain.models import CompositeRecord, MemoryRecord, Skill
from lycheemem.domain.ports import (
    CatalogStore,
    GraphLink,
    GraphRows,
    JobStore,
    SemanticStore,
    VectorIndex,
)
from lycheemem.domain.working_memory.manager import WorkingMemoryManager
from lycheemem.errors import RecordNotFound, SkillNotFound
from lycheemem.services.presenters import item_public, node_of, node_public
from lycheemem.services.transfer import ImportReport, MemoryTransfer

__all__ = ["GRAPH_MODES", "GraphCleared", "ItemPage", "ManagementService", "build_graph"]

GRAPH_MODES = ("cleaned", "debug")


@dataclass(slots=True)
class ItemPage:
    """One page of memory items (API shape) and the overall number of matches."""

    items: list[dict[str, Any]]
    total: int


@dataclass(slots=True)
class GraphCleared:
    """What ``clear_graph`` removed."""

    records_deleted: int
    composites_deleted: int
    usage_logs_deleted: int


def _edge(link: GraphLink) -> dict[str, str]:
    relation = "child_composite" if link.member_kind == "composite" else "composed_from"
    return {"source": link.composite_id, "target": link.member_id, "relation": relation}


def build_graph(rows: GraphRows, *, mode: str) -> dict[str, Any]:
    """The ``GET /memory/graph`` body from stored nodes and member links.

    Every edge joins two returned nodes. ``cleaned`` keeps direct parent→child
    edges only; ``debug`` links each composite to all its leaf records as well.
    ``tree_roots`` are returned nodes that no returned composite holds directly.
    """
    present = {node.item_id for node in rows.nodes}
    links = [
        link for link in rows.links if link.composite_id in present and link.member_id in present
    ]
    direct = [link for link in links if link.direct]
    shown = direct
    if mode == "debug":
        shown = [link for link in links if link.direct or link.member_kind == "record"]
    covered = {link.member_id for link in direct}
    return {
        "nodes": [node_public(node) for node in rows.nodes],
        "edges": [_edge(link) for link in shown],
        "tree_roots": [node.item_id for node in rows.nodes if node.item_id not in covered],
        "stats": {"record_count": rows.record_total, "composite_count": rows.composite_total},
        "truncated": len(rows.nodes) < rows.record_total + rows.composite_total,
    }


def _history(item: MemoryRecord) -> list[dict[str, Any]]:
    keys = ("semantic_text", "normalized_text", "replaced_at", "reason")
    return [{key: entry.get(key) for key in keys} for entry in item.history[:5]]


class ManagementService:
    """Records, tree, skills, export/import and tenant-wide deletes of one caller."""

    def __init__(
        self,
        *,
        catalog: CatalogStore,
        semantic: SemanticStore,
        vectors: VectorIndex,
        jobs: JobStore,
        working_memory: WorkingMemoryManager,
        transfer: MemoryTransfer,
        max_concurrent_imports: int = 4,
    ) -> None:
        self.catalog = catalog
        self.semantic = semantic
        self._import_locks: dict[str, asyncio.Lock] = {}
        self._import_gate = AdmissionGate(max_concurrent_imports, what="imports")
        self.vectors = vectors
        self.jobs = jobs
        self.working_memory = working_memory
        self.transfer = transfer

    # -- records ---------------------------------------------------------------
    async def list_items(
        self,
        *,
        user_id: str,
        kind: str = "all",
        memory_type: str | None = None,
        session_id: str | None = None,
        include_expired: bool = False,
        q: str | None = None,
        order: str = "updated_desc",
        offset: int = 0,
        limit: int = 50,
    ) -> ItemPage:
        """A page of the caller's items; ``q`` with nothing searchable matches nothing."""
        items, total = await self.catalog.list_items(
            user_id,
            kind=kind,
            memory_type=memory_type,
            session_id=session_id,
            include_expired=include_expired,
            q=q,
            order=order,
            offset=offset,
            limit=limit,
        )
        return ItemPage([item_public(item) for item in items], total)

    async def get_item(self, *, user_id: str, item_id: str) -> dict[str, Any]:
        """One item with ``parents``, ``children`` (composites) and ``history`` (records)."""
        found = await self.catalog.item_relations(user_id, item_id)
        if found is None:
            raise RecordNotFound(item_id)
        body = item_public(found.item)
        body["parents"] = found.parents
        if isinstance(found.item, CompositeRecord):
            body["children"] = {
                "child_composite_ids": list(found.item.child_composite_ids),
                "direct_record_ids": found.direct_record_ids,
            }
            body["history"] = []
        else:
            body["children"] = None
            body["history"] = _history(found.item)
        return body

    async def delete_item(self, *, user_id: str, item_id: str) -> list[str]:
        """Hard-delete an item and every composite containing it; returns the deleted ids."""
        records, composites = await self.catalog.delete_item(user_id, item_id)
        if not records and not composites:
            raise RecordNotFound(item_id)
        await self._drop_vectors(user_id, records, composites)
        return [*records, *composites]

    async def _drop_vectors(
        self, user_id: str, record_ids: Sequence[str], composite_ids: Sequence[str]
    ) -> None:
        await self.vectors.delete("memory_records", user_id, record_ids)
        await self.vectors.delete("composite_records", user_id, composite_ids)

    # -- graph -----------------------------------------------------------------
    async def graph(
        self, *, user_id: str, mode: str = "cleaned", include_expired: bool = False, limit: int
    ) -> dict[str, Any]:
        """The caller's memory tree (API.md §8 ``GET /memory/graph``)."""
        rows = await self.catalog.graph(user_id, include_expired=include_expired, limit=limit)
        return build_graph(rows, mode=mode)

    async def graph_search(self, *, user_id: str, q: str, top_k: int) -> dict[str, Any]:
        """Active items matching ``q`` in full text, best first, as anchor nodes."""
        records = await self.semantic.fts(user_id, q, table="memory_records", limit=top_k)
        composites = await self.semantic.fts(user_id, q, table="composite_records", limit=top_k)
        ranked = sorted(
            [(hit.rank, 0, hit.item_id) for hit in composites]
            + [(hit.rank, 1, hit.item_id) for hit in records]
        )[:top_k]
        found: dict[str, Any] = {}
        found.update(await self.semantic.records(user_id, [h.item_id for h in records]))
        found.update(await self.semantic.composites(user_id, [h.item_id for h in composites]))
        nodes = []
        for _, _, item_id in ranked:
            if item_id in found:
                node = node_public(node_of(found[item_id]))
                node["properties"]["is_anchor"] = True
                nodes.append(node)
        return {"nodes": nodes, "edges": []}

    async def clear_graph(self, *, user_id: str) -> GraphCleared:
        """Delete the caller's records, composites, links, tags, usage logs and their vectors."""
        records, composites, logs = await self.catalog.clear_graph(user_id)
        await self._drop_vectors(user_id, records, composites)
        return GraphCleared(len(records), len(composites), logs)

    # -- skills ----------------------------------------------------------------
    async def list_skills(
        self, *, user_id: str, q: str | None, offset: int, limit: int
    ) -> tuple[list[Skill], int]:
        """The caller's skills (newest update first) and their total."""
        return await self.catalog.list_skills(user_id, q=q, offset=offset, limit=limit)

    async def delete_skill(self, *, user_id: str, skill_id: str) -> None:
        """Delete one of the caller's skills; ``SkillNotFound`` for any other id."""
        deleted = await self.catalog.delete_skill(user_id, skill_id)
        if not deleted:
            raise SkillNotFound(skill_id)
        await self.vectors.delete("skills", user_id, [skill_id])

    async def clear_skills(self, *, user_id: str) -> int:
        """Delete every skill of the caller (rows and vectors); returns how many."""
        ids = await self.catalog.clear_skills(user_id)
        await self.vectors.delete("skills", user_id, ids)
        return len(ids)

    # -- everything ------------------------------------------------------------
    async def delete_all(self, *, user_id: str) -> dict[str, int]:
        """Delete all of the caller's memory, skills, sessions, logs, jobs and vectors."""
        gone = await self.catalog.delete_tenant(user_id)
        await self.vectors.delete_user(user_id)
        for session_id in gone.session_ids:
            self.working_memory.forget(user_id, session_id)
        return {
            "records": len(gone.record_ids),
            "composites": len(gone.composite_ids),
            "skills": len(gone.skill_ids),
            "sessions": len(gone.session_ids),
            "turns": gone.turns,
            "usage_logs": gone.usage_logs,
            "jobs": gone.jobs,
        }

    async def status_counts(self, *, user_id: str) -> dict[str, Any]:
        """The caller's counts for ``GET /pipeline/status``, with the turns consolidation
        skipped (``skipped_turn_count`` and the latest ten as ``skipped_turns``)."""
        counts: dict[str, Any] = dict(await self.catalog.status_counts(user_id))
        jobs = await self.jobs.counts(user_id)
        counts["queued_jobs"] = jobs.get("queued", 0)
        counts["running_jobs"] = jobs.get("running", 0)
        counts["failed_jobs"] = jobs.get("failed", 0)
        skipped = await self.semantic.skipped_turns(user_id)
        counts["skipped_turn_count"] = skipped["count"]
        counts["skipped_turns"] = skipped["recent"]
        return counts

    # -- export / import -------------------------------------------------------
    def export_lines(
        self, *, user_id: str, include_sessions: bool = False, include_usage_logs: bool = False
    ) -> AsyncIterator[str]:
        """The caller's memory as JSON Lines (header first), produced page by page."""
        return self.transfer.export_lines(
            user_id=user_id,
            include_sessions=include_sessions,
            include_usage_logs=include_usage_logs,
        )

    def import_admission(self) -> AbstractContextManager[None]:
        """A slot for one import, held while its body is read and imported.

        Raises ``RateLimited`` (429) when ``max_concurrent_imports`` imports are already
        admitted server-wide; enter it before reading the body, so refused bodies are
        never held in memory.
        """
        return self._import_gate.admit()

    async def import_jsonl(self, *, user_id: str, body: bytes, mode: str = "merge") -> ImportReport:
        """Import an export into the caller's namespace (``replace`` deletes everything first).

        The header is checked before anything is deleted or written. The import is bulk
        work (``domain.bulk``): its decoding and embedding run on low-priority threads.
        """
        # One import per tenant at a time: a tenant sending several large imports at once
        # queues behind itself instead of multiplying its share of the CPU.
        async with self._import_locks.setdefault(user_id, asyncio.Lock()):
            with bulk_work():
                # Decoding up to 50 MiB of JSON is CPU work: keep it off the event loop.
                lines = await offload(self.transfer.parse, body)
                if mode == "replace":
                    await self.delete_all(user_id=user_id)
                return await self.transfer.import_lines(user_id=user_id, lines=lines)
