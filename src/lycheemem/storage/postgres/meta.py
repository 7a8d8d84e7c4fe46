"""Database-wide facts every replica must agree on: the token secret and the embedding model."""

from __future__ import annotations

import secrets

from lycheemem.errors import EmbeddingMismatch
from lycheemem.storage.postgres.database import PgDatabase

__all__ = ["check_model_guard", "shared_secret"]


async def _put_once(db: PgDatabase, values: dict[str, str]) -> dict[str, str]:
    """Insert keys that are missing (the first replica wins) and return the stored values."""
    async with db.system() as conn:
        for key, value in values.items():
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
                (key, value),
            )
        cur = await conn.execute("SELECT key, value FROM meta WHERE key = ANY(%s)", (list(values),))
        return {row["key"]: row["value"] for row in await cur.fetchall()}


async def shared_secret(db: PgDatabase, configured: str) -> str:
    """The configured token secret, else one created once in the database and then read by
    every replica (so a token issued by one is accepted by all)."""
    if configured:
        return configured
    stored = await _put_once(db, {"jwt_secret": secrets.token_hex(32)})
    return stored["jwt_secret"]


async def check_model_guard(db: PgDatabase, model: str, dim: int, now: str) -> None:
    """Record the embedding model on first use; ``EmbeddingMismatch`` when another is set."""
    stored = await _put_once(
        db, {"embedding_model": model, "embedding_dim": str(dim), "created_at": now}
    )
    if stored["embedding_model"] != model or stored["embedding_dim"] != str(dim):
        raise EmbeddingMismatch(
            f"this database was built with embedding model {stored['embedding_model']!r} "
            f"({stored['embedding_dim']}-d) but {model!r} ({dim}-d) is configured"
        )
