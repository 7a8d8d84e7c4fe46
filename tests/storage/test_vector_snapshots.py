"""Saved IVF indexes: reused after a restart, rebuilt when rows change or files are damaged."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lancedb
import numpy as np
import pyarrow as pa
import pytest

from lycheemem.storage.lance.ivf import IvfMatrix
from lycheemem.storage.lance.matrix import unit_rows
from lycheemem.storage.lance.snapshots import SnapshotStore
from lycheemem.storage.lance.tables import table_schema
from lycheemem.storage.lance.vector_index import LanceVectorIndex, VectorRow

DIM = 64
RECORDS = "memory_records"
BIG = 2500  # above the test index's ann_min_rows (2000)

pytestmark = pytest.mark.anyio


def clustered(count: int, seed: int = 0) -> np.ndarray:
    """Unit vectors around 32 topics (clusters like text embeddings)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((32, DIM))
    topics = rng.integers(0, len(centres), count)
    return unit_rows(centres[topics] + 0.6 * rng.standard_normal((count, DIM)))


def rows_for(user_id: str, vectors: np.ndarray, prefix: str = "r") -> list[VectorRow]:
    return [
        VectorRow(
            item_id=f"{prefix}{i}",
            user_id=user_id,
            vector=vector,
            normalized_vector=vector[::-1].copy(),
            memory_type="fact",
        )
        for i, vector in enumerate(vectors)
    ]


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts ``IvfMatrix.build`` calls (each is a full clustering of a tenant's column)."""
    calls: list[int] = []
    original: Callable[..., IvfMatrix] = IvfMatrix.build.__func__  # type: ignore[attr-defined]

    def counting(cls: type[IvfMatrix], ids: Any, *args: Any, **kwargs: Any) -> IvfMatrix:
        calls.append(len(ids))
        return original(cls, ids, *args, **kwargs)

    monkeypatch.setattr(IvfMatrix, "build", classmethod(counting))
    yield calls


async def opened(tmp_path: Path) -> LanceVectorIndex:
    index = LanceVectorIndex(
        tmp_path / "lance", dim=DIM, ann_min_rows=2000, spill_dir=tmp_path / "spill"
    )
    await index.open()
    return index


async def search_both(index: LanceVectorIndex, user_id: str, queries: np.ndarray) -> list[Any]:
    return [
        await index.search(RECORDS, user_id, queries, column=column, k=10)
        for column in ("vector", "normalized_vector")
    ]


def snapshot_files(tmp_path: Path) -> dict[str, tuple[int, int]]:
    """Every saved file (folder/name) with its inode and mtime."""
    root = tmp_path / "vector-index"
    return {
        f"{path.parent.name}/{path.name}": (path.stat().st_ino, path.stat().st_mtime_ns)
        for path in sorted(root.glob("*/*"))
    }


async def seeded(tmp_path: Path) -> tuple[np.ndarray, list[Any]]:
    """A big tenant and a small one written, searched (building the IVFs) and closed."""
    vectors = clustered(BIG)
    index = await opened(tmp_path)
    await index.upsert(RECORDS, rows_for("big", vectors))
    await index.upsert(RECORDS, rows_for("small", clustered(300, seed=4), prefix="s"))
    queries = unit_rows(vectors[:8] + 0.3 * clustered(8, seed=9))
    before = await search_both(index, "big", queries)
    await index.close()
    return queries, before


async def test_a_restart_reuses_the_saved_index_with_equal_results(
    tmp_path: Path, builds: list[int]
) -> None:
    queries, before = await seeded(tmp_path)
    saved = snapshot_files(tmp_path)

    index = await opened(tmp_path)
    after = await search_both(index, "big", queries)
    info = await index.cache_info()
    kinds = {(entry["user_id"], entry["column"]): entry["kind"] for entry in info}
    await index.close()

    assert builds == [BIG, BIG]  # the two columns, built once, before the restart
    assert after == before
    assert kinds == {("big", "vector"): "ivf", ("big", "normalized_vector"): "ivf"}
    assert len(saved) == 6  # meta, rows and state of each column
    assert snapshot_files(tmp_path) == saved  # not rewritten by the second run


async def test_open_loads_the_saved_indexes_before_the_first_search(
    tmp_path: Path, builds: list[int]
) -> None:
    queries, before = await seeded(tmp_path)

    index = await opened(tmp_path)
    info = await index.cache_info()  # queued behind the loading started by open
    after = await search_both(index, "big", queries)
    await index.close()

    assert {(entry["user_id"], entry["column"], entry["kind"]) for entry in info} == {
        ("big", "vector", "ivf"),
        ("big", "normalized_vector", "ivf"),
    }
    assert after == before
    assert builds == [BIG, BIG]


async def test_another_tenants_writes_keep_the_saved_index(
    tmp_path: Path, builds: list[int]
) -> None:
    queries, before = await seeded(tmp_path)
    index = await opened(tmp_path)
    await search_both(index, "big", queries)
    await index.upsert(RECORDS, rows_for("small", clustered(5, seed=6), prefix="t"))
    await index.close()

    index = await opened(tmp_path)
    after = await search_both(index, "big", queries)
    await index.close()

    assert builds == [BIG, BIG]
    assert after == before


async def test_the_tenants_own_write_discards_and_resaves_its_index(
    tmp_path: Path, builds: list[int]
) -> None:
    queries, _ = await seeded(tmp_path)
    index = await opened(tmp_path)
    await search_both(index, "big", queries)
    saved = snapshot_files(tmp_path)
    fresh = unit_rows(-queries[0])[0]
    await index.upsert(RECORDS, [VectorRow("late", "big", fresh, normalized_vector=fresh)])
    gone = snapshot_files(tmp_path)
    await index.close()
    resaved = snapshot_files(tmp_path)

    index = await opened(tmp_path)
    hits = await index.search(RECORDS, "big", fresh[None, :], k=1)
    await index.close()

    assert gone == {}  # deleted before the rows changed
    assert len(resaved) == 6 and set(resaved) != set(saved)  # saved anew at close
    assert hits[0][0][0] == "late"
    assert builds == [BIG, BIG]  # the cached index was saved, not rebuilt


async def test_rows_changed_by_another_process_force_a_rebuild(
    tmp_path: Path, builds: list[int]
) -> None:
    queries, _ = await seeded(tmp_path)
    fresh = unit_rows(-queries[1])[0]
    table = lancedb.connect(str(tmp_path / "lance")).open_table(RECORDS)
    extra = {
        "record_id": ["foreign"],
        "user_id": ["big"],
        "memory_type": ["fact"],
        "expired": [False],
        "vector": [fresh.tolist()],
        "normalized_vector": [fresh.tolist()],
    }
    table.add(pa.table(extra, schema=table_schema(RECORDS, DIM)))

    index = await opened(tmp_path)
    hits = await index.search(RECORDS, "big", fresh[None, :], k=1)
    await index.close()

    assert hits[0][0][0] == "foreign"
    assert builds == [BIG, BIG, BIG + 1]


@pytest.mark.parametrize("damage", ["flip a row byte", "truncate rows", "flip a state byte"])
async def test_a_damaged_saved_index_is_rebuilt_not_trusted(
    tmp_path: Path, builds: list[int], damage: str
) -> None:
    queries, before = await seeded(tmp_path)
    folder = next((tmp_path / "vector-index").iterdir())
    name = "state-*.npz" if "state" in damage else "rows-*.f32"
    target = next(folder.glob(name))
    content = bytearray(target.read_bytes())
    if damage.startswith("truncate"):
        content = content[: len(content) // 2]
    else:
        content[len(content) // 3] ^= 0x40
    target.chmod(0o600)
    target.write_bytes(bytes(content))

    index = await opened(tmp_path)
    after = await search_both(index, "big", queries)
    await index.close()

    assert len(builds) == 3  # the damaged column only
    assert after == before


@pytest.mark.parametrize("field", ["rows_file", "state_file", "rows_crc32", "used"])
async def test_a_tampered_meta_is_rebuilt_not_trusted(
    tmp_path: Path, builds: list[int], field: str
) -> None:
    queries, before = await seeded(tmp_path)
    meta_path = next((tmp_path / "vector-index").glob("*/meta.json"))
    meta = json.loads(meta_path.read_text())
    meta[field] = "../../lance/escape" if field.endswith("file") else meta[field] + 1
    meta_path.write_text(json.dumps(meta))

    index = await opened(tmp_path)
    after = await search_both(index, "big", queries)
    await index.close()

    assert len(builds) == 3
    assert after == before


async def test_saved_files_are_private_and_go_with_the_tenant(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        await seeded(tmp_path)
    finally:
        os.umask(previous)
    root = tmp_path / "vector-index"
    modes = {stat.S_IMODE(path.stat().st_mode) for path in root.glob("*/*")}
    folders = {stat.S_IMODE(path.stat().st_mode) for path in [root, *root.iterdir()]}

    index = await opened(tmp_path)
    await index.delete_user("big")
    left = list(root.iterdir())
    await index.close()

    assert modes == {0o600} and folders == {0o700}
    assert left == []


def test_the_store_round_trips_removed_moved_and_tail_rows(tmp_path: Path) -> None:
    vectors = clustered(3000)
    matrix = IvfMatrix.build([f"r{i}" for i in range(3000)], vectors, spill_dir=tmp_path)
    for i in range(40):
        matrix.remove(f"r{i}")
    matrix.put("r100", unit_rows(-vectors[100])[0])  # moves to another cluster
    matrix.put("tail", vectors[7], expired=True)
    store = SnapshotStore(tmp_path / "saved", dim=DIM, spill_dir=tmp_path)
    queries = clustered(6, seed=2)
    want = matrix.search(queries, 10, include_expired=True)

    store.save(("u", RECORDS, "vector"), matrix, table_version=3, tenant_rows=2961)
    found = store.load(("u", RECORDS, "vector"))

    assert found is not None
    loaded, meta = found
    assert meta["table_version"] == 3 and meta["tenant_rows"] == 2961
    assert len(loaded) == len(matrix) == 2961
    assert loaded.search(queries, 10, include_expired=True) == want
    assert matrix.search(queries, 10, include_expired=True) == want  # now served from the file
    assert "r5" not in loaded and loaded.get("r100") == pytest.approx(-vectors[100], abs=1e-6)
    assert store.load(("u", RECORDS, "normalized_vector")) is None
