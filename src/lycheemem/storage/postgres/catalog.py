"""``CatalogStore`` on PostgreSQL: browsing and bulk deletes of one tenant (SQL in
``catalog_sql`` and ``deletes``), each call one ``tenant(user_id)`` transaction.

A listing's ``q`` becomes the same term groups SQLite's FTS5 query is built from
(``kept_fts_groups``), matched against the ``tsvector`` column, plus its CJK runs as
substrings, so no caller sees full-text syntax.
"""

from __future__ import annotations

from lycheemem.domain.models import CompositeRecord, MemoryRecord, Skill
from lycheemem.domain.ports import GraphRows, ItemRelations, TenantDeletion
from lycheemem.domain.text.terms import kept_fts_groups
from lycheemem.storage.postgres import catalog_sql, deletes
from lycheemem.storage.postgres.database import PgDatabase
from lycheemem.storage.postgres.semantic_search import cjk_runs

__all__ = ["PgCatalogStore"]


class PgCatalogStore:
    """Implements ``domain.ports.CatalogStore`` on PostgreSQL, as ``SqliteCatalogStore`` does
    on SQLite; deletes also remove the deleted rows' vectors in the same transaction."""

    def __init__(self, db: PgDatabase) -> None:
        self.db = db

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
        """A page of the caller's items and the total; ``q`` with nothing searchable: none."""
        flt = catalog_sql.ItemFilter(kind, memory_type, session_id, include_expired)
        if q:
            groups = kept_fts_groups(q)
            if not groups:
                return [], 0
            flt.groups, flt.runs = groups, cjk_runs(groups)
        async with self.db.tenant(user_id) as conn:
            return await catalog_sql.list_items(
                conn, user_id, flt, order=order, offset=offset, limit=limit
            )

    async def item_relations(self, user_id: str, item_id: str) -> ItemRelations | None:
        """The item with its parents (and direct records for composites), or None."""
        async with self.db.tenant(user_id) as conn:
            return await catalog_sql.item_relations(conn, user_id, item_id)

    async def delete_item(self, user_id: str, item_id: str) -> tuple[list[str], list[str]]:
        """Delete the item and the composites containing it; the deleted ids."""
        async with self.db.tenant(user_id) as conn:
            return await deletes.delete_items(conn, user_id, [item_id], [item_id])

    async def graph(self, user_id: str, *, include_expired: bool, limit: int) -> GraphRows:
        """Nodes, member links and totals of the caller's tree."""
        async with self.db.tenant(user_id) as conn:
            return await catalog_sql.graph_rows(
                conn, user_id, include_expired=include_expired, limit=limit
            )

    async def clear_graph(self, user_id: str) -> tuple[list[str], list[str], int]:
        """Delete records, composites, links, tags and usage logs of the caller."""
        async with self.db.tenant(user_id) as conn:
            return await deletes.clear_graph_rows(conn, user_id)

    async def list_skills(
        self, user_id: str, *, q: str | None, offset: int, limit: int
    ) -> tuple[list[Skill], int]:
        """The caller's skills, newest update first, and their total."""
        groups: list[str] | None = None
        if q:
            groups = kept_fts_groups(q)
            if not groups:
                return [], 0
        async with self.db.tenant(user_id) as conn:
            return await catalog_sql.list_skills(
                conn,
                user_id,
                groups=groups,
                runs=cjk_runs(groups or []),
                offset=offset,
                limit=limit,
            )

    async def delete_skill(self, user_id: str, skill_id: str) -> bool:
        """Delete one skill; False when the caller has none with this id."""
        async with self.db.tenant(user_id) as conn:
            return await deletes.delete_skill_row(conn, user_id, skill_id)

    async def clear_skills(self, user_id: str) -> list[str]:
        """Delete every skill of the caller; their ids."""
        async with self.db.tenant(user_id) as conn:
            return await deletes.clear_skill_rows(conn, user_id)

    async def delete_tenant(self, user_id: str) -> TenantDeletion:
        """Delete every row of the caller, vectors and long documents included, in one
        transaction."""
        async with self.db.tenant(user_id) as conn:
            return await deletes.delete_tenant_rows(conn, user_id)

    async def status_counts(self, user_id: str) -> dict[str, int]:
        """The caller's counts of ``GET /pipeline/status`` (jobs excluded)."""
        async with self.db.tenant(user_id) as conn:
            return await catalog_sql.status_counts(conn, user_id)
