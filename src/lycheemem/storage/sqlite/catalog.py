"""``CatalogStore`` on SQLite: browsing and bulk deletes of one tenant (SQL in ``catalog_sql``,
``deletes``).

Reads run in the reader pool, deletes in one write transaction each; the FTS5 match of a
listing's ``q`` is built here so no caller sees FTS syntax.
"""

from __future__ import annotations

from lycheemem.domain.models import CompositeRecord, MemoryRecord, Skill
from lycheemem.domain.ports import GraphRows, ItemRelations, TenantDeletion
from lycheemem.domain.text.terms import build_fts_query, fts_owner
from lycheemem.storage.sqlite import catalog_sql, deletes
from lycheemem.storage.sqlite.database import Database
from lycheemem.storage.sqlite.records import delete_items
from lycheemem.storage.sqlite.skills import list_skills

__all__ = ["SqliteCatalogStore"]


class SqliteCatalogStore:
    """Implements ``domain.ports.CatalogStore`` on the SQLite database."""

    def __init__(self, db: Database) -> None:
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
        match = None
        if q:
            match = build_fts_query(q, fts_owner(user_id))
            if match is None:
                return [], 0
        flt = catalog_sql.ItemFilter(kind, memory_type, session_id, include_expired, match)
        return await self.db.read(
            lambda conn: catalog_sql.list_items(
                conn, user_id, flt, order=order, offset=offset, limit=limit
            )
        )

    async def item_relations(self, user_id: str, item_id: str) -> ItemRelations | None:
        """The item with its parents (and direct records for composites), or None."""
        return await self.db.read(lambda conn: catalog_sql.item_relations(conn, user_id, item_id))

    async def delete_item(self, user_id: str, item_id: str) -> tuple[list[str], list[str]]:
        """Delete the item and the composites containing it; the deleted ids."""
        return await self.db.write(lambda conn: delete_items(conn, user_id, [item_id], [item_id]))

    async def graph(self, user_id: str, *, include_expired: bool, limit: int) -> GraphRows:
        """Nodes, member links and totals of the caller's tree."""
        return await self.db.read(
            lambda conn: catalog_sql.graph_rows(
                conn, user_id, include_expired=include_expired, limit=limit
            )
        )

    async def clear_graph(self, user_id: str) -> tuple[list[str], list[str], int]:
        """Delete records, composites, links, tags and usage logs of the caller."""
        return await self.db.write(lambda conn: deletes.clear_graph_rows(conn, user_id))

    async def list_skills(
        self, user_id: str, *, q: str | None, offset: int, limit: int
    ) -> tuple[list[Skill], int]:
        """The caller's skills, newest update first, and their total."""
        return await self.db.read(
            lambda conn: list_skills(conn, user_id, q=q, offset=offset, limit=limit)
        )

    async def delete_skill(self, user_id: str, skill_id: str) -> bool:
        """Delete one skill; False when the caller has none with this id."""
        return await self.db.write(lambda conn: deletes.delete_skill_row(conn, user_id, skill_id))

    async def clear_skills(self, user_id: str) -> list[str]:
        """Delete every skill of the caller; their ids."""
        return await self.db.write(lambda conn: deletes.clear_skill_rows(conn, user_id))

    async def delete_tenant(self, user_id: str) -> TenantDeletion:
        """Delete all of the caller's rows in one transaction."""
        return await self.db.write(lambda conn: deletes.delete_tenant_rows(conn, user_id))

    async def status_counts(self, user_id: str) -> dict[str, int]:
        """The caller's counts of ``GET /pipeline/status`` (jobs excluded)."""
        return await self.db.read(lambda conn: catalog_sql.status_counts(conn, user_id))
