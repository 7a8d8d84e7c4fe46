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
        token_version=row["token_version"],
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

    async def bump_token_version(self, user_id: str) -> int | None:
        """Increase the user's token version (revoking every token issued before); returns
        the new version, or None when the user does not exist."""

        def bump(conn: sqlite3.Connection) -> int | None:
            row = conn.execute(
                "UPDATE users SET token_version = token_version + 1 WHERE user_id = ?"
                " RETURNING token_version",
                (user_id,),
            ).fetchone()
            return None if row is None else int(row[0])

        return await self._db.write(bump, touches_memory=False)

    async def delete(self, user_id: str) -> bool:
        """Delete the account row; False when it did not exist."""
        return await self._db.write(
            lambda conn: (
                conn.execute("DELETE FROM users WHERE user_id = ?", (user_id,)).rowcount > 0
            ),
            touches_memory=False,
        )
