"""Users table: accounts for JWT auth."""

from __future__ import annotations

import sqlite3

from lycheemem.domain.models import User
from lycheemem.errors import UsernameTaken
from lycheemem.storage.sqlite.database import Database

__all__ = ["SqliteUserStore"]


def _user(row: sqlite3.Row | None) -> User | None:
    if row is None:
        return None
    return User(
        user_id=row["user_id"],
        username=row["username"],
        display_name=row["display_name"],
        created_at=row["created_at"],
        password_hash=row["password_hash"],
    )


class SqliteUserStore:
    """Implements the ``UserStore`` protocol on the ``users`` table."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, user: User) -> User:
        """Insert ``user``; ``UsernameTaken`` when the name exists (case-insensitive)."""

        def insert(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    "INSERT INTO users (user_id, username, password_hash, display_name, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (
                        user.user_id,
                        user.username,
                        user.password_hash,
                        user.display_name,
                        user.created_at,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                raise UsernameTaken(f"Username {user.username!r} is already taken") from exc

        await self._db.write(insert)
        return user

    async def by_username(self, username: str) -> User | None:
        """The user with this name (case-insensitive), or None."""
        return await self._db.read(
            lambda conn: _user(
                conn.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
            )
        )

    async def by_id(self, user_id: str) -> User | None:
        """The user with this id, or None."""
        return await self._db.read(
            lambda conn: _user(
                conn.execute("SELECT * FROM users WHERE user_id = ?", (user_id,)).fetchone()
            )
        )
