"""Procedural memory: the skills table (FTS kept in sync by triggers)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from lycheemem.domain.models import Skill
from lycheemem.domain.text.terms import build_fts_query, fts_document, fts_owner
from lycheemem.storage.sqlite.records import chunks, placeholders
from lycheemem.storage.sqlite.rows import dump_json, load_json

__all__ = ["fetch_skills", "list_skills", "save_skill", "skill_from_row"]

_COLUMNS = (
    "skill_id",
    "user_id",
    "intent",
    "doc_markdown",
    "conditions",
    "metadata",
    "success_count",
    "fail_count",
    "usage_count",
    "last_used",
    "source_session_id",
    "source_turn_ids",
    "created_at",
    "updated_at",
    "fts_text",
    "fts_owner",
    "indexed",
)


def skill_from_row(row: sqlite3.Row) -> Skill:
    """Rebuild a ``Skill`` from its row."""
    return Skill(
        skill_id=row["skill_id"],
        user_id=row["user_id"],
        intent=row["intent"],
        doc_markdown=row["doc_markdown"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        conditions=row["conditions"],
        metadata=load_json(row["metadata"], {}),
        success_count=row["success_count"],
        fail_count=row["fail_count"],
        usage_count=row["usage_count"],
        last_used=row["last_used"],
        source_session_id=row["source_session_id"],
        source_turn_ids=load_json(row["source_turn_ids"], []),
    )


def save_skill(conn: sqlite3.Connection, skill: Skill) -> None:
    """Insert or replace ``skill`` (``indexed`` = 0 until its vector is written)."""
    values = (
        skill.skill_id,
        skill.user_id,
        skill.intent,
        skill.doc_markdown,
        skill.conditions,
        dump_json(skill.metadata),
        skill.success_count,
        skill.fail_count,
        skill.usage_count,
        skill.last_used,
        skill.source_session_id,
        dump_json(skill.source_turn_ids),
        skill.created_at,
        skill.updated_at,
        fts_document(skill.intent, skill.doc_markdown, skill.conditions),
        fts_owner(skill.user_id),
        0,
    )
    updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c != "skill_id")
    conn.execute(
        f"INSERT INTO skills ({', '.join(_COLUMNS)}) VALUES ({placeholders(len(_COLUMNS))})"
        f" ON CONFLICT (skill_id) DO UPDATE SET {updates}",
        values,
    )


def fetch_skills(conn: sqlite3.Connection, user_id: str, ids: Sequence[str]) -> dict[str, Skill]:
    """The caller's skills with these ids."""
    found: dict[str, Skill] = {}
    for part in chunks(list(ids)):
        rows = conn.execute(
            f"SELECT * FROM skills WHERE user_id = ? AND skill_id IN ({placeholders(len(part))})",
            (user_id, *part),
        ).fetchall()
        found.update((row["skill_id"], skill_from_row(row)) for row in rows)
    return found


def list_skills(
    conn: sqlite3.Connection, user_id: str, *, q: str | None, offset: int, limit: int
) -> tuple[list[Skill], int]:
    """The caller's skills (newest update first), optionally full-text filtered."""
    params: list[Any] = [user_id]
    where = "s.user_id = ?"
    source = "skills s"
    if q:
        match = build_fts_query(q, fts_owner(user_id))
        if match is None:
            return [], 0
        source = "skills_fts f JOIN skills s ON s.id = f.rowid"
        where += " AND skills_fts MATCH ?"
        params.append(match)
    total = conn.execute(f"SELECT COUNT(*) FROM {source} WHERE {where}", params).fetchone()[0]
    rows = conn.execute(
        f"SELECT s.* FROM {source} WHERE {where} ORDER BY s.updated_at DESC, s.skill_id"
        " LIMIT ? OFFSET ?",
        (*params, limit, offset),
    ).fetchall()
    return [skill_from_row(row) for row in rows], int(total)
