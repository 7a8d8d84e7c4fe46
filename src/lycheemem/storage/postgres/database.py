"""The PostgreSQL connection pool, numbered migrations and per-transaction tenant scope.

``PgDatabase.open`` applies ``migrations/NNNN_*.sql`` once (serialised across replicas by an
advisory lock), creates the non-owner role ``lycheemem_app`` and grants it the tables. Every
unit of work then runs in ``tenant(user_id)`` or ``system()``: one transaction that switches
to ``lycheemem_app`` (``SET LOCAL ROLE``, so row-level security applies even when the URL's
user owns the tables or is a superuser) and names the caller for the policies.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any, cast

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from lycheemem.errors import StorageError

__all__ = ["APP_ROLE", "PgDatabase", "migration_files"]

APP_ROLE = "lycheemem_app"
"""The role every app transaction runs as: no superuser, no BYPASSRLS, owns nothing."""

# Any fixed 64-bit number: the advisory lock that serialises migrations of many replicas.
_MIGRATION_LOCK = 7_140_114_914
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

Conn = AsyncConnection[dict[str, Any]]


def migration_files() -> list[tuple[int, str, str]]:
    """``(version, name, sql)`` of every migration, in version order."""
    found: list[tuple[int, str, str]] = []
    for entry in resources.files("lycheemem.storage.postgres.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


_ROLE_SQL = f"""
DO $$
BEGIN
    CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
"""

_GRANT_SQL = f"""
GRANT {APP_ROLE} TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO {APP_ROLE};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE};
REVOKE ALL ON schema_migrations FROM {APP_ROLE};
"""


class PgDatabase:
    """One pool of connections to the PostgreSQL database named by ``url``.

    Promises: after ``open`` every migration is applied exactly once; ``tenant`` and
    ``system`` each yield a connection inside one transaction (committed on normal exit,
    rolled back on an exception) running as ``lycheemem_app``.
    """

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self.url = url
        self._pool = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            kwargs={"row_factory": dict_row, "autocommit": False},
        )
        self.schema_version = 0

    async def open(self) -> None:
        """Apply pending migrations, set up the app role and open the pool."""
        await self.migrate()
        await self._pool.open(wait=True)

    async def close(self) -> None:
        """Close every pooled connection."""
        await self._pool.close()

    async def migrate(self) -> int:
        """Apply the migrations not yet recorded; return the schema version now in place."""
        async with await AsyncConnection.connect(self.url, autocommit=True) as conn:
            await conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
            try:
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                    " name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
                )
                cur = await conn.execute("SELECT version FROM schema_migrations")
                done = {row[0] for row in await cur.fetchall()}
                for version, name, sql in migration_files():
                    if version in done:
                        continue
                    async with conn.transaction():
                        await conn.execute(sql.encode())
                        await conn.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                            (version, name),
                        )
                await conn.execute(_ROLE_SQL.encode())
                await conn.execute(_GRANT_SQL.encode())
                cur = await conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
                row = await cur.fetchone()
                self.schema_version = int(row[0]) if row else 0
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
        if self.schema_version == 0:
            raise StorageError("no PostgreSQL migration was applied")
        return self.schema_version

    @asynccontextmanager
    async def tenant(self, user_id: str, **settings: str) -> AsyncIterator[Conn]:
        """A transaction that sees only ``user_id``'s rows (row-level security); ``settings``
        are extra transaction-local parameters (e.g. ``hnsw.ef_search``)."""
        async with self._scoped(user_id, "tenant", settings) as conn:
            yield conn

    @asynccontextmanager
    async def system(self) -> AsyncIterator[Conn]:
        """A transaction that sees every tenant: job claiming, login by name, admin counts."""
        async with self._scoped("", "system", {}) as conn:
            yield conn

    @asynccontextmanager
    async def _scoped(
        self, user_id: str, scope: str, settings: dict[str, str]
    ) -> AsyncIterator[Conn]:
        values = {"role": APP_ROLE, "lycheemem.user_id": user_id, "lycheemem.scope": scope}
        values.update(settings)
        # one round trip: set_config(..., true) is SET LOCAL, ``role`` included
        calls = ", ".join("set_config(%s, %s, true)" for _ in values)
        params = [part for item in values.items() for part in item]
        async with self._pool.connection() as raw, raw.transaction():
            conn = cast(Conn, raw)  # the pool's connections use dict_row (see __init__)
            await conn.execute(f"SELECT {calls}", params)
            yield conn

    @asynccontextmanager
    async def owner(self) -> AsyncIterator[Conn]:
        """A transaction as the URL's user (the table owner), for schema changes only."""
        async with self._pool.connection() as raw, raw.transaction():
            yield cast(Conn, raw)

    async def ping(self) -> None:
        """Raise unless the database answers."""
        async with self.system() as conn:
            await conn.execute("SELECT 1")
