"""Helpers for the memory-management tests: build memories through the API or the store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi.testclient import TestClient

from lycheemem.domain.models import CompositeRecord, MemoryRecord, SourceRef
from lycheemem.domain.text.terms import canon, composite_id_for
from lycheemem.storage.lance.vector_index import VectorRow
from lycheemem.storage.postgres import semantic_rows as pg_rows
from lycheemem.storage.sqlite.records import insert_composite, save_record
from lycheemem.testing import make_record

SEAT_FACTS = [
    "I prefer window seats on flights.",
    "I prefer window seats when flying long haul.",
    "We deploy with kubectl apply to the kube-system namespace.",
    "Always run pg_dump before migrations.",
    "My favourite editor is Vim.",
]
RELEASE_STEPS = (
    "How to release:\n1. Run the tests with pytest\n2. Build the wheel with uv build\n"
    "3. Upload with twine upload"
)
HOSTILE_QUERIES = [
    '"',
    '""',
    "'",
    "a\"b'c",
    "NEAR(window seats)",
    "window NEAR seats",
    "*",
    "win*",
    "(",
    ")",
    "((window) OR (seats",
    "AND OR NOT",
    "fts_owner : u_anon",
    "column:value",
    "^start",
    "-minus +plus",
    "发布前运行检查",
    "运行Ruff检查",
    "窗",
    "\u3000",
    "%_\\",
    "{}[]",
]


def remember(
    client: TestClient,
    session_id: str,
    texts: Sequence[str],
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Append ``texts`` as user turns and consolidate the session synchronously."""
    for text in texts:
        body = {"session_id": session_id, "role": "user", "content": text}
        response = client.post("/memory/append-turn", json=body, headers=headers or {})
        assert response.status_code == 200, response.text
    response = client.post(
        "/memory/consolidate",
        json={"session_id": session_id, "background": False},
        headers=headers or {},
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "done", response.json()
    return response.json()


def user_id_of(client: TestClient, headers: dict[str, str]) -> str:
    """The registered caller's ``user_id``."""
    return client.get("/auth/me", headers=headers).json()["user_id"]


def all_items(client: TestClient, headers: dict[str, str] | None = None, **params: Any) -> list:
    """Every memory item of the caller (one page of up to 200)."""
    response = client.get("/memory/records", params={"limit": 200, **params}, headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def make_composite(
    user_id: str,
    text: str,
    leaves: Sequence[str],
    children: Sequence[CompositeRecord] = (),
    **fields: Any,
) -> tuple[CompositeRecord, list[str]]:
    """A composite over ``leaves`` (record ids) and child composites, with its direct leaves."""
    covered = {rid for child in children for rid in child.source_record_ids}
    all_leaves = list(dict.fromkeys([*leaves, *covered]))
    direct = [rid for rid in all_leaves if rid not in covered]
    child_ids = [child.composite_id for child in children]
    now = "2026-03-01T10:00:00.000Z"
    composite = CompositeRecord(
        composite_id=composite_id_for(user_id, [*direct, *child_ids]),
        user_id=user_id,
        memory_type=fields.pop("memory_type", "composite_pattern"),
        semantic_text=text,
        normalized_text=canon(text),
        created_at=now,
        updated_at=now,
        source_record_ids=all_leaves,
        child_composite_ids=child_ids,
        level=1 + max((child.level for child in children), default=0),
        sources=[SourceRef("s1", [0])],
        **fields,
    )
    return composite, direct


def store_items(
    client: TestClient,
    records: Sequence[MemoryRecord],
    composites: Sequence[tuple[CompositeRecord, list[str]]] = (),
) -> None:
    """Write records and composites into the running app's store (either backend) and
    vector index, as consolidation stores them."""
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    if ctx.storage.backend == "postgres":
        client.portal.call(_write_postgres, ctx, records, composites)  # type: ignore[union-attr]
        client.portal.call(_index, ctx, records, [c for c, _ in composites])  # type: ignore[union-attr]
        return

    def write(conn: Any) -> None:
        for record in records:
            save_record(conn, record)
        for composite, direct in composites:
            insert_composite(conn, composite, direct)

    client.portal.call(ctx.db.write, write)  # type: ignore[union-attr]
    client.portal.call(_index, ctx, records, [c for c, _ in composites])  # type: ignore[union-attr]


async def _write_postgres(
    ctx: Any,
    records: Sequence[MemoryRecord],
    composites: Sequence[tuple[CompositeRecord, list[str]]],
) -> None:
    owners = {item.user_id for item in records} | {c.user_id for c, _ in composites}
    for owner in owners:
        async with ctx.storage.semantic.db.tenant(owner) as conn:
            for record in records:
                if record.user_id == owner:
                    await pg_rows.save_record(conn, record)
            for composite, direct in composites:
                if composite.user_id == owner:
                    await pg_rows.insert_composite(conn, composite, direct)


async def _index(
    ctx: Any, records: Sequence[MemoryRecord], composites: Sequence[CompositeRecord]
) -> None:
    for table, items in (("memory_records", records), ("composite_records", composites)):
        if not items:
            continue
        texts = [i.semantic_text for i in items] + [i.normalized_text for i in items]
        matrix = await ctx.embedder.embed(texts)
        rows = [
            VectorRow(
                item.item_id,
                item.user_id,
                matrix[n],
                matrix[len(items) + n],
                memory_type=item.memory_type,
                level=getattr(item, "level", 0),
                expired=item.expired,
            )
            for n, item in enumerate(items)
        ]
        await ctx.vectors.upsert(table, rows)


def build_tree(client: TestClient, user_id: str) -> dict[str, Any]:
    """Store a two-level tree: top(level 2) -> [mid(level 1) -> r1, r2] + r3; r4 uncovered."""
    r1, r2, r3, r4 = (
        make_record(user_id, text)
        for text in (
            "Alpha service runs on port 8080.",
            "Alpha service logs to syslog.",
            "Beta service depends on Alpha service.",
            "The office coffee machine is broken.",
        )
    )
    mid, mid_direct = make_composite(user_id, "Alpha service setup", [r1.record_id, r2.record_id])
    top, top_direct = make_composite(user_id, "Service topology", [r3.record_id], children=[mid])
    store_items(client, [r1, r2, r3, r4], [(mid, mid_direct), (top, top_direct)])
    return {"r1": r1, "r2": r2, "r3": r3, "r4": r4, "mid": mid, "top": top}
