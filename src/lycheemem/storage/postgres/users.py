"""Accounts on PostgreSQL (``UserStore``)."""

from __future__ import annotations

from typing import Any

from psycopg import errors as pg_errors

from lycheemem.domain.models import User
from lycheemem.errors import UsernameTaken
from lycheemem.storage.postgres.database import PgDatabase

__all__ = ["PgUserStore"]


def _user(row: dict[str, Any] | None) -> User | None:
    if row is None:
        return None
    return User(
        user_id=row["user_id"],
        username=row["username"],
        display_name=row["display_name"],
        created_at=row["created_at"],
        password_hash=row["password_hash"],
        token_version=row["token_version"],
    )


class PgUserStore:
    """Implements ``UserStore``; usernames are unique case-insensitively (``lower`` index)."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    async def create(self, user: User) -> User:
        """Insert ``user``; ``UsernameTaken`` when the name exists (case-insensitive)."""
        try:
            async with self._db.tenant(user.user_id) as conn:
                await conn.execute(
                    "INSERT INTO users (user_id, username, password_hash, display_name, created_at)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    (
                        user.user_id,
                        user.username,
                        user.password_hash,
                        user.display_name,
                        user.created_at,
                    ),
                )
        except pg_errors.UniqueViolation as exc:
            raise UsernameTaken(f"Username {user.username!r} is already taken") from exc
        return user

    async def by_username(self, username: str) -> User | None:
        """The user with this name (case-insensitive), or None; reads across tenants (login)."""
        async with self._db.system() as conn:
            cur = await conn.execute(
                "SELECT * FROM users WHERE lower(username) = lower(%s)", (username,)
            )
            return _user(await cur.fetchone())

    async def by_id(self, user_id: str) -> User | None:
        """The user with this id, or None."""
        async with self._db.tenant(user_id) as conn:
            cur = await conn.execute("SELECT * FROM users WHERE user_id = %s", (user_id,))
            return _user(await cur.fetchone())

    async def bump_token_version(self, user_id: str) -> int | None:
        """Increase the user's token version (revoking every token issued before); returns
        the new version, or None when the user does not exist."""
        async with self._db.tenant(user_id) as conn:
            cur = await conn.execute(
                "UPDATE users SET token_version = token_version + 1 WHERE user_id = %s"
                " RETURNING token_version",
                (user_id,),
            )
            row = await cur.fetchone()
        return None if row is None else int(row["token_version"])

    async def delete(self, user_id: str) -> bool:
        """Delete the account row; False when it did not exist."""
        async with self._db.tenant(user_id) as conn:
            cur = await conn.execute("DELETE FROM users WHERE user_id = %s", (user_id,))
            return cur.rowcount > 0
