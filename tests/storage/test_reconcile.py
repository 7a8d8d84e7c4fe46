"""After a crash between the SQLite commit and the vector write, a restart reconciles:
unindexed rows get their vectors, vectors of deleted rows go, and search finds the records."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from lycheemem.services.presenters import search_response
from lycheemem.storage.lance.vector_index import VectorRow

pytestmark = pytest.mark.anyio
FACTS = ["I prefer window seats on flights.", "My dog is called Rex.", "I live in Lisbon."]


async def _ids(ctx: Any, table: str, column: str) -> tuple[set[str], set[str]]:
    rows = await ctx.db.read(
        lambda conn: {row[0] for row in conn.execute(f"SELECT {column} FROM {table}")}
    )
    vectors = {item_id for _, item_id in await ctx.vectors.all_ids(table)}
    return rows, vectors


async def test_restart_repairs_what_a_crash_left_half_written(open_context) -> None:
    ctx = await open_context(reconcile_interval_s=0)
    for fact in FACTS:
        await ctx.service.append_turn(user_id="", session_id="s1", role="user", content=fact)
    done = await ctx.service.consolidation.consolidate(
        user_id="", session_id="s1", background=False
    )
    assert done["status"] == "done"
    records, vectors = await _ids(ctx, "memory_records", "record_id")
    assert records == vectors and len(records) >= 3
    # The crash: rows committed unindexed, their vectors never written; plus a vector
    # whose row was deleted just before the process died.
    lost = sorted(records)[:2]
    await ctx.vectors.delete("memory_records", "", lost)
    await ctx.db.write(lambda conn: conn.execute("UPDATE memory_records SET indexed = 0"))
    ghost = VectorRow("ghost-record", "", np.ones(64, dtype=np.float32), np.ones(64))
    await ctx.vectors.upsert("memory_records", [ghost])
    await ctx.close()

    again = await open_context(reconcile_interval_s=0)
    await again._reconciler  # the startup pass (orphans) has finished
    records_after, vectors_after = await _ids(again, "memory_records", "record_id")
    assert records_after == vectors_after == records
    unindexed = await again.db.read(
        lambda conn: conn.execute(
            "SELECT COUNT(*) FROM memory_records WHERE indexed = 0"
        ).fetchone()[0]
    )
    assert unindexed == 0
    outcome = await again.service.search(user_id="", query="window seats flights", top_k=3)
    hits = search_response(outcome)["semantic_results"]
    assert any("window seats" in str(hit) for hit in hits), hits
