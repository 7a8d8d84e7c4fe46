"""Records said in the turns right after a given turn of a session, by index."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lycheemem.domain.models import SourceRef
from lycheemem.storage.sqlite import record_search
from lycheemem.storage.sqlite import records as sql
from lycheemem.storage.sqlite.database import Database
from lycheemem.testing import make_record

pytestmark = pytest.mark.anyio


def _said(user: str, session: str, turn: int, text: str, **fields: object):
    return make_record(
        user,
        text,
        session_id=session,
        source_turn_ids=[turn],
        sources=[SourceRef(session, [turn])],
        **fields,
    )


async def test_follow_ups_are_the_next_turns_of_the_same_session_in_order(
    tmp_path: Path,
) -> None:
    db = Database(tmp_path / "f.db")
    await db.open()
    records = [
        _said("alice", "s1", 4, "I finished my first screenplay."),
        _said("alice", "s1", 5, "Nate asked what it is about."),
        _said("alice", "s1", 6, "It is a mix of drama and romance."),
        _said("alice", "s1", 6, "The lead is a pilot.", expired=True),
        _said("alice", "s1", 7, "Three turns later: not a follow-up."),
        _said("alice", "s2", 5, "Same turn number, other session."),
        _said("bob", "s1", 5, "Same session id, other tenant."),
    ]

    def write(conn: sqlite3.Connection) -> None:
        for record in records:
            sql.save_record(conn, record)

    await db.write(write)

    def check(conn: sqlite3.Connection) -> None:
        found = record_search.follow_up_ids(conn, "alice", "s1", after_turn=4, turns=2, limit=10)
        assert found == [records[1].record_id, records[2].record_id]
        assert record_search.follow_up_ids(conn, "alice", "s1", after_turn=4, turns=2, limit=1) == [
            records[1].record_id
        ]
        assert (
            record_search.follow_up_ids(conn, "alice", "s1", after_turn=7, turns=2, limit=10) == []
        )
        plan = " ".join(
            str(row[-1])
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT record_id FROM memory_records WHERE user_id = 'a'"
                " AND source_session_id = 's' AND json_extract(source_turn_ids, '$[0]')"
                " BETWEEN 1 AND 2"
            )
        )
        assert "memory_records_by_turn" in plan

    await db.read(check)
    await db.close()
