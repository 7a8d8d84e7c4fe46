"""LanceVectorIndex against a real LanceDB directory, under every search strategy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from lycheemem.errors import ConfigError, EmbeddingMismatch, StorageError
from lycheemem.storage.lance.cache import VectorCache
from lycheemem.storage.lance.ivf import IvfMatrix
from lycheemem.storage.lance.matrix import COARSE_MIN_ROWS, TenantMatrix, unit_rows
from lycheemem.storage.lance.vector_index import LanceVectorIndex, VectorRow

DIM = 16
RECORDS = "memory_records"


def unit_vectors(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return unit_rows(rng.standard_normal((count, DIM)))


def rows_for(user_id: str, vectors: np.ndarray, prefix: str = "r") -> list[VectorRow]:
    return [
        VectorRow(item_id=f"{prefix}{i}", user_id=user_id, vector=vector, memory_type="fact")
        for i, vector in enumerate(vectors)
    ]


def brute_force_top(vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    return list(np.argsort(-(vectors @ query), kind="stable")[:k])


async def opened(
    path: Path, *, dim: int = DIM, strategy: str = "auto", cache_mb: int = 1024
) -> LanceVectorIndex:
    index = LanceVectorIndex(path, dim=dim, strategy=strategy, cache_mb=cache_mb)
    await index.open()
    return index


@pytest.fixture(params=["exact", "ann"])
async def index(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LanceVectorIndex]:
    """An open index using each search strategy in turn."""
    vector_index = await opened(tmp_path / "lance", strategy=request.param)
    yield vector_index
    await vector_index.close()


@pytest.mark.anyio
async def test_search_finds_the_stored_vector_first(index: LanceVectorIndex) -> None:
    vectors = unit_vectors(50)
    await index.upsert(RECORDS, rows_for("alice", vectors))

    hits = await index.search(RECORDS, "alice", vectors[[7, 21]], k=5)

    assert [found[0][0] for found in hits] == ["r7", "r21"]
    assert hits[0][0][1] == pytest.approx(1.0, abs=1e-5)
    assert all(len(found) == 5 for found in hits)
    scores = [score for _, score in hits[0]]
    assert scores == sorted(scores, reverse=True)
    assert all(-1.0 <= score <= 1.0 for score in scores)


@pytest.mark.anyio
async def test_search_ranks_like_brute_force(index: LanceVectorIndex) -> None:
    vectors = unit_vectors(200, seed=1)
    await index.upsert(RECORDS, rows_for("alice", vectors))
    query = unit_vectors(1, seed=2)

    hits = await index.search(RECORDS, "alice", query, k=10)

    assert [item_id for item_id, _ in hits[0]] == [
        f"r{i}" for i in brute_force_top(vectors, query[0], 10)
    ]


@pytest.mark.anyio
async def test_tenants_never_see_each_other(index: LanceVectorIndex) -> None:
    vectors = unit_vectors(10)
    await index.upsert(RECORDS, rows_for("alice", vectors, prefix="a"))
    await index.upsert(RECORDS, rows_for("bob", vectors, prefix="b"))

    bob_hits = await index.search(RECORDS, "bob", vectors, k=20)
    carol_hits = await index.search(RECORDS, "carol", vectors[:1], k=5)

    assert all(item_id.startswith("b") for found in bob_hits for item_id, _ in found)
    assert all(len(found) == 10 for found in bob_hits)
    assert carol_hits == [[]]
    assert (await index.get_vectors(RECORDS, "bob", ["a1", "b1"])).keys() == {"b1"}


@pytest.mark.anyio
async def test_quotes_in_ids_and_users_are_literals(index: LanceVectorIndex) -> None:
    vectors = unit_vectors(3)
    await index.upsert(RECORDS, rows_for("alice", vectors))
    tricky = VectorRow(item_id="x' OR '1'='1", user_id="o'brien", vector=vectors[0])
    await index.upsert(RECORDS, [tricky])

    injected = await index.search(RECORDS, "' OR user_id = 'alice", vectors[:1], k=5)
    obrien = await index.search(RECORDS, "o'brien", vectors[:1], k=5)
    await index.delete(RECORDS, "o'brien", ["x' OR '1'='1"])

    assert injected == [[]]
    assert [item_id for item_id, _ in obrien[0]] == ["x' OR '1'='1"]
    assert await index.count(RECORDS, "o'brien") == 0
    assert await index.count(RECORDS, "alice") == 3
    with pytest.raises(StorageError, match="NUL"):
        await index.count(RECORDS, "alice\x00")


@pytest.mark.anyio
async def test_upsert_cannot_take_over_another_users_id(index: LanceVectorIndex) -> None:
    vectors = unit_vectors(4)
    await index.upsert(RECORDS, rows_for("alice", vectors[:2]))
    await index.upsert(RECORDS, rows_for("alice", vectors[:2]))  # idempotent, no error
    await index.search(RECORDS, "bob", vectors[:1], k=1)  # warm bob's cache, if any

    with pytest.raises(StorageError, match="another user"):
        await index.upsert(RECORDS, rows_for("bob", vectors[2:], prefix="r"))
    await index.upsert(RECORDS, [VectorRow(item_id="b9", user_id="bob", vector=vectors[3])])

    alice = await index.search(RECORDS, "alice", vectors[:1], k=5)
    bob = await index.search(RECORDS, "bob", vectors[2:], k=5)
    assert alice[0][0] == ("r0", pytest.approx(1.0, abs=1e-5))
    assert await index.count(RECORDS, "alice") == 2
    assert [[item_id for item_id, _ in found] for found in bob] == [["b9"], ["b9"]]


@pytest.mark.anyio
async def test_expired_rows_are_hidden_until_reactivated(index: LanceVectorIndex) -> None:
    vectors = unit_vectors(20)
    await index.upsert(RECORDS, rows_for("alice", vectors))
    await index.search(RECORDS, "alice", vectors[:1], k=1)  # warm the cache, if any

    await index.set_expired(RECORDS, "alice", ["r3", "r4"])
    hidden = await index.search(RECORDS, "alice", vectors[[3, 4]], k=20)
    shown = await index.search(RECORDS, "alice", vectors[[3]], k=1, include_expired=True)
    await index.set_expired(RECORDS, "alice", ["r3"], expired=False)
    back = await index.search(RECORDS, "alice", vectors[[3]], k=1)

    assert all(item_id not in {"r3", "r4"} for found in hidden for item_id, _ in found)
    assert len(hidden[0]) == 18
    assert shown[0][0][0] == "r3"
    assert back[0][0][0] == "r3"
    assert await index.count(RECORDS, "alice") == 20


@pytest.mark.anyio
async def test_rows_upserted_as_expired_stay_hidden(index: LanceVectorIndex) -> None:
    vector = unit_vectors(1)
    row = VectorRow(item_id="old", user_id="alice", vector=vector[0], expired=True)
    await index.upsert(RECORDS, [row])

    assert await index.search(RECORDS, "alice", vector, k=3) == [[]]
    assert (await index.search(RECORDS, "alice", vector, k=3, include_expired=True))[0][0][0] == (
        "old"
    )


@pytest.mark.anyio
async def test_delete_removes_from_search_and_storage(index: LanceVectorIndex) -> None:
    vectors = unit_vectors(30)
    await index.upsert(RECORDS, rows_for("alice", vectors))
    await index.upsert(RECORDS, rows_for("bob", vectors[:2], prefix="b"))
    await index.search(RECORDS, "alice", vectors[:1], k=1)

    await index.delete(RECORDS, "alice", ["r5", "r6", "missing"])
    await index.delete(RECORDS, "alice", ["r0", "b0"])  # bob's b0 is not alice's to delete

    hits = await index.search(RECORDS, "alice", vectors[[5, 6]], k=30)
    assert all(item_id not in {"r0", "r5", "r6"} for found in hits for item_id, _ in found)
    assert await index.count(RECORDS, "alice") == 27
    assert await index.count(RECORDS, "bob") == 2
    assert (await index.get_vectors(RECORDS, "alice", ["r5", "r7"])).keys() == {"r7"}


@pytest.mark.anyio
async def test_upsert_replaces_a_vector(index: LanceVectorIndex) -> None:
    vectors = unit_vectors(20)
    await index.upsert(RECORDS, rows_for("alice", vectors))
    await index.search(RECORDS, "alice", vectors[:1], k=1)

    await index.upsert(RECORDS, [VectorRow(item_id="r0", user_id="alice", vector=vectors[9])])
    hits = await index.search(RECORDS, "alice", vectors[[0, 9]], k=2)

    assert hits[0][0][1] < 0.999  # nothing equals the old r0 vector any more
    assert {item_id for item_id, _ in hits[1]} == {"r0", "r9"}
    assert await index.count(RECORDS, "alice") == 20


@pytest.mark.anyio
async def test_delete_user_wipes_every_table(index: LanceVectorIndex) -> None:
    vectors = unit_vectors(5)
    await index.upsert(RECORDS, rows_for("alice", vectors))
    await index.upsert("skills", rows_for("alice", vectors, prefix="s"))
    await index.upsert(RECORDS, rows_for("bob", vectors, prefix="b"))
    await index.search(RECORDS, "alice", vectors[:1], k=1)

    await index.delete_user("alice")

    assert await index.count(RECORDS, "alice") == 0
    assert await index.count("skills", "alice") == 0
    assert await index.search(RECORDS, "alice", vectors[:1], k=3) == [[]]
    assert await index.count(RECORDS, "bob") == 5


@pytest.mark.anyio
async def test_normalized_vector_column_is_searchable(index: LanceVectorIndex) -> None:
    vectors = unit_vectors(6)
    rows = [
        VectorRow(item_id="with", user_id="alice", vector=vectors[0], normalized_vector=vectors[1]),
        VectorRow(item_id="without", user_id="alice", vector=vectors[1]),
    ]
    await index.upsert("composite_records", rows)

    hits = await index.search(
        "composite_records", "alice", vectors[[1]], column="normalized_vector", k=5
    )
    stored = await index.get_vectors(
        "composite_records", "alice", ["with", "without"], column="normalized_vector"
    )

    assert [item_id for item_id, _ in hits[0]] == ["with"]
    assert hits[0][0][1] == pytest.approx(1.0, abs=1e-5)
    assert stored.keys() == {"with"}
    np.testing.assert_allclose(stored["with"], vectors[1], atol=1e-6)


@pytest.mark.anyio
async def test_get_vectors_returns_stored_unit_vectors(index: LanceVectorIndex) -> None:
    vectors = unit_vectors(8)
    await index.upsert(RECORDS, rows_for("alice", vectors * 3.0))  # stored normalised

    cold = await index.get_vectors(RECORDS, "alice", ["r2", "r5", "nope"])
    await index.search(RECORDS, "alice", vectors[:1], k=1)
    warm = await index.get_vectors(RECORDS, "alice", ["r2", "r5", "nope"])

    for found in (cold, warm):
        assert found.keys() == {"r2", "r5"}
        np.testing.assert_allclose(found["r2"], vectors[2], atol=1e-6)
        assert found["r5"].dtype == np.float32


@pytest.mark.anyio
async def test_skills_table_has_no_expiry(index: LanceVectorIndex) -> None:
    vectors = unit_vectors(4)
    await index.upsert("skills", rows_for("alice", vectors, prefix="s"))

    hits = await index.search("skills", "alice", vectors[[2]], k=1)

    assert hits[0][0][0] == "s2"
    with pytest.raises(StorageError):
        await index.set_expired("skills", "alice", ["s2"])
    with pytest.raises(StorageError):
        await index.search("skills", "alice", vectors[[2]], column="normalized_vector", k=1)


@pytest.mark.anyio
async def test_wrong_dimension_is_rejected(index: LanceVectorIndex) -> None:
    wrong = np.ones(DIM + 1, dtype=np.float32)
    with pytest.raises(EmbeddingMismatch):
        await index.upsert(RECORDS, [VectorRow(item_id="x", user_id="alice", vector=wrong)])
    with pytest.raises(EmbeddingMismatch):
        await index.search(RECORDS, "alice", wrong[None, :], k=1)
    with pytest.raises(StorageError):
        await index.search("nope", "alice", np.ones((1, DIM)), k=1)


@pytest.mark.anyio
async def test_large_batches_span_several_writes(index: LanceVectorIndex) -> None:
    vectors = unit_vectors(2300, seed=5)
    await index.upsert(RECORDS, rows_for("alice", vectors))
    await index.search(RECORDS, "alice", vectors[:1], k=1)

    doomed = [f"r{i}" for i in range(0, 2300, 2)]
    await index.set_expired(RECORDS, "alice", doomed[:600])
    await index.delete(RECORDS, "alice", doomed)

    assert await index.count(RECORDS, "alice") == 1150
    hits = await index.search(RECORDS, "alice", vectors[[1, 2]], k=1)
    assert hits[0][0][0] == "r1"
    assert hits[1][0][0] != "r2"


@pytest.mark.anyio
async def test_exact_cache_is_written_through_without_reload(tmp_path: Path) -> None:
    index = await opened(tmp_path, strategy="exact")
    vectors = unit_vectors(10)
    await index.upsert(RECORDS, rows_for("alice", vectors))
    await index.search(RECORDS, "alice", vectors[:1], k=1)  # loads the cache
    # Deleting behind the index's back: a cached search still sees the row, proving no reload.
    await index._run(lambda: index.table(RECORDS).delete("record_id = 'r4'"))

    await index.upsert(RECORDS, [VectorRow(item_id="r0", user_id="alice", vector=vectors[9])])
    await index.upsert(RECORDS, [VectorRow(item_id="new", user_id="alice", vector=-vectors[9])])
    stale = await index.search(RECORDS, "alice", vectors[[4]], k=1)
    replaced = await index.search(RECORDS, "alice", vectors[[9]], k=2)
    added = await index.search(RECORDS, "alice", -vectors[[9]], k=1)
    await index.close()

    assert stale[0][0][0] == "r4"
    assert {item_id for item_id, _ in replaced[0]} == {"r0", "r9"}
    assert added[0][0] == ("new", pytest.approx(1.0, abs=1e-5))


@pytest.mark.anyio
@pytest.mark.parametrize("strategy", ["exact", "ann", "auto"])
async def test_reopen_gives_the_same_results(tmp_path: Path, strategy: str) -> None:
    vectors = unit_vectors(100, seed=3)
    queries = unit_vectors(5, seed=4)
    index = await opened(tmp_path, strategy=strategy)
    await index.upsert(RECORDS, rows_for("alice", vectors))
    await index.set_expired(RECORDS, "alice", ["r1", "r2"])
    await index.delete(RECORDS, "alice", ["r3"])
    before = await index.search(RECORDS, "alice", queries, k=10)
    await index.close()

    reopened = await opened(tmp_path, strategy=strategy)
    after = await reopened.search(RECORDS, "alice", queries, k=10)
    await reopened.close()

    assert [[item_id for item_id, _ in found] for found in after] == [
        [item_id for item_id, _ in found] for found in before
    ]
    for old, new in zip(before, after, strict=True):
        np.testing.assert_allclose([s for _, s in old], [s for _, s in new], atol=1e-5)


@pytest.mark.anyio
async def test_ann_and_exact_agree_on_top_hit(tmp_path: Path) -> None:
    vectors = unit_vectors(300, seed=6)
    queries = unit_vectors(20, seed=7)
    exact = await opened(tmp_path, strategy="exact")
    await exact.upsert(RECORDS, rows_for("alice", vectors))
    exact_hits = await exact.search(RECORDS, "alice", queries, k=3)
    await exact.close()
    ann = await opened(tmp_path, strategy="ann")
    ann_hits = await ann.search(RECORDS, "alice", queries, k=3)
    await ann.close()

    assert [found[0][0] for found in ann_hits] == [found[0][0] for found in exact_hits]
    for exact_found, ann_found in zip(exact_hits, ann_hits, strict=True):
        assert ann_found[0][1] == pytest.approx(exact_found[0][1], abs=1e-4)


@pytest.mark.anyio
async def test_auto_falls_back_to_ann_above_the_budget(tmp_path: Path) -> None:
    index = await opened(tmp_path, strategy="auto", cache_mb=0)
    vectors = unit_vectors(40)
    await index.upsert(RECORDS, rows_for("alice", vectors))

    hits = await index.search(RECORDS, "alice", vectors[[11]], k=3)
    await index.set_expired(RECORDS, "alice", ["r11"])
    after = await index.search(RECORDS, "alice", vectors[[11]], k=3)
    await index.close()

    assert hits[0][0] == ("r11", pytest.approx(1.0, abs=1e-5))
    assert "r11" not in {item_id for item_id, _ in after[0]}


@pytest.mark.anyio
async def test_ensure_ann_index_builds_once_due(tmp_path: Path) -> None:
    index = await opened(tmp_path, strategy="ann")
    vectors = unit_vectors(600, seed=8)
    await index.upsert(RECORDS, rows_for("alice", vectors))

    too_small = await index.ensure_ann_index(RECORDS, min_rows=1000)
    built = await index.ensure_ann_index(RECORDS, min_rows=500)
    again = await index.ensure_ann_index(RECORDS, min_rows=500)
    hits = await index.search(RECORDS, "alice", vectors[[42]], k=1)
    await index.optimize()
    after_optimize = await index.count(RECORDS, "alice")
    await index.close()

    assert (too_small, built, again) == (False, True, False)
    assert hits[0][0][0] == "r42"
    assert after_optimize == 600


@pytest.mark.anyio
async def test_reopen_with_another_dimension_fails(tmp_path: Path) -> None:
    index = await opened(tmp_path)
    await index.close()

    other = LanceVectorIndex(tmp_path, dim=DIM * 2)
    with pytest.raises(EmbeddingMismatch, match="reindex"):
        await other.open()
    await other.close()


def test_unknown_strategy_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LYCHEEMEM_VECTOR_SEARCH"):
        LanceVectorIndex(tmp_path, dim=DIM, strategy="fast")


@pytest.mark.anyio
async def test_calls_before_open_fail(tmp_path: Path) -> None:
    index = LanceVectorIndex(tmp_path, dim=DIM)
    with pytest.raises(StorageError, match="not open"):
        await index.count(RECORDS, "alice")


def test_tenant_matrix_matches_brute_force_through_growth_and_compaction() -> None:
    rng = np.random.default_rng(9)
    vectors = unit_vectors(1000, seed=10)
    matrix = TenantMatrix(DIM)
    present: dict[str, np.ndarray] = {}
    for step in range(3000):
        item = f"i{rng.integers(400)}"
        if rng.random() < 0.3:
            matrix.remove(item)
            present.pop(item, None)
        else:
            vector = vectors[step % 1000]
            matrix.put(item, vector)
            present[item] = vector

    query = unit_vectors(1, seed=11)
    ids = list(present)
    expected = [ids[i] for i in brute_force_top(np.stack([present[i] for i in ids]), query[0], 5)]
    found = matrix.search(query, 5)[0]

    assert len(matrix) == len(present)
    assert [item_id for item_id, _ in found] == expected
    assert all(matrix.get(item_id) is not None for item_id in ids)
    assert matrix.nbytes < 1000 * DIM * 4  # compaction kept it from growing with history


def test_tenant_matrix_skips_expired_and_handles_small_k() -> None:
    vectors = unit_vectors(3)
    matrix = TenantMatrix.from_arrays(["a", "b", "c"], vectors, np.array([False, True, False]))

    assert {item_id for item_id, _ in matrix.search(vectors[[1]], 10)[0]} == {"a", "c"}
    assert len(matrix.search(vectors[[1]], 10, include_expired=True)[0]) == 3
    assert matrix.search(vectors[[1]], 0) == [[]]


def test_vector_cache_evicts_least_recently_used_by_bytes() -> None:
    def sized(rows: int) -> TenantMatrix:
        return TenantMatrix.from_arrays([str(i) for i in range(rows)], unit_vectors(rows))

    one = sized(100)
    cache = VectorCache(budget_bytes=int(one.nbytes * 2.5))
    cache.put(("a", RECORDS, "vector"), one)
    cache.put(("b", RECORDS, "vector"), sized(100))
    cache.get(("a", RECORDS, "vector"))
    cache.put(("c", RECORDS, "vector"), sized(100))
    cache.enforce(keep=("c", RECORDS, "vector"))

    assert ("b", RECORDS, "vector") not in cache
    assert ("a", RECORDS, "vector") in cache and ("c", RECORDS, "vector") in cache

    cache.put(("big", RECORDS, "vector"), sized(1000))
    cache.enforce(keep=("big", RECORDS, "vector"), allow_oversize=True)
    assert len(cache) == 1 and ("big", RECORDS, "vector") in cache
    cache.enforce(keep=("big", RECORDS, "vector"))
    assert len(cache) == 0


# --- two-stage search of big matrices ------------------------------------------------------


def clustered_vectors(count: int, dim: int = 256, seed: int = 0) -> np.ndarray:
    """Unit vectors around 64 topics, like embeddings of real text (not isotropic noise)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((64, dim))
    topics = rng.integers(0, len(centres), count)
    return unit_rows(centres[topics] + 0.6 * rng.standard_normal((count, dim)))


def big_matrix(count: int = COARSE_MIN_ROWS) -> tuple[TenantMatrix, np.ndarray]:
    vectors = clustered_vectors(count)
    return TenantMatrix.from_arrays([f"r{i}" for i in range(count)], vectors), vectors


def test_two_stage_search_agrees_with_the_exact_scan() -> None:
    matrix, vectors = big_matrix()
    queries = unit_rows(vectors[:50] + 0.3 * clustered_vectors(50, seed=1))
    before = matrix.nbytes
    found = matrix.search(queries, 10)
    assert matrix.nbytes > before, "the projected copy was built and is accounted for"
    exact = matrix.search(queries, 10, exact=True)
    pairs = zip(found, exact, strict=True)
    overlap = [len({i for i, _ in a} & {i for i, _ in b}) / 10 for a, b in pairs]
    assert np.mean(overlap) >= 0.95
    for item_id, score in found[0]:
        assert score == pytest.approx(float(vectors[int(item_id[1:])] @ queries[0]), abs=1e-5)
    assert [s for _, s in found[0]] == sorted((s for _, s in found[0]), reverse=True)


def test_two_stage_search_sees_writes_removals_and_expiry() -> None:
    matrix, vectors = big_matrix()
    matrix.search(vectors[:1], 5)  # builds the projection
    fresh = clustered_vectors(1, seed=7)[0]
    matrix.put("new", fresh)
    assert matrix.search(fresh[None, :], 1)[0][0][0] == "new"
    matrix.set_expired("new", True)
    assert "new" not in {i for i, _ in matrix.search(fresh[None, :], 5)[0]}
    assert matrix.search(fresh[None, :], 1, include_expired=True)[0][0][0] == "new"
    target = "r123"
    assert matrix.search(vectors[123][None, :], 1)[0][0][0] == target
    for row in range(COARSE_MIN_ROWS // 3):  # enough removals to compact the matrix
        matrix.remove(f"r{row}")
    assert matrix.search(vectors[123][None, :], 1)[0][0][0] != target
    last = f"r{COARSE_MIN_ROWS - 1}"
    assert matrix.search(vectors[-1][None, :], 1)[0][0][0] == last


def test_small_matrices_stay_exact() -> None:
    vectors = clustered_vectors(COARSE_MIN_ROWS - 1)
    matrix = TenantMatrix.from_arrays([f"r{i}" for i in range(len(vectors))], vectors)
    queries = clustered_vectors(5, seed=3)
    before = matrix.nbytes
    assert matrix.search(queries, 10) == matrix.search(queries, 10, exact=True)
    assert matrix.nbytes == before


# --- in-process IVF of big tenants ---------------------------------------------------------


def ivf_matrix(count: int, spill_dir: Path | None = None) -> tuple[IvfMatrix, np.ndarray]:
    vectors = clustered_vectors(count, dim=64)
    ids = [f"r{i}" for i in range(count)]
    return IvfMatrix.build(ids, vectors, spill_dir=spill_dir), vectors


def test_ivf_search_agrees_with_the_exact_scan_and_scores_exactly(tmp_path: Path) -> None:
    matrix, vectors = ivf_matrix(6000, tmp_path / "spill")
    queries = unit_rows(vectors[:40] + 0.5 * clustered_vectors(40, dim=64, seed=1))

    found = matrix.search(queries, 10)
    exact = matrix.search(queries, 10, exact=True)

    assert matrix.clusters >= 16 and matrix.probes() < matrix.clusters
    overlap = [
        len({i for i, _ in a} & {i for i, _ in b}) / 10 for a, b in zip(found, exact, strict=True)
    ]
    assert np.mean(overlap) >= 0.9
    for item_id, score in found[0]:
        assert score == pytest.approx(float(vectors[int(item_id[1:])] @ queries[0]), abs=1e-5)
    assert [s for _, s in found[0]] == sorted((s for _, s in found[0]), reverse=True)
    assert matrix.get("r17") == pytest.approx(vectors[17], abs=1e-6)


def test_ivf_keeps_rows_out_of_ram_and_leaves_no_files(tmp_path: Path) -> None:
    spill = tmp_path / "spill"
    matrix, vectors = ivf_matrix(6000, spill)

    exact = TenantMatrix.from_arrays([f"r{i}" for i in range(6000)], vectors)

    assert isinstance(matrix._matrix, np.memmap)
    assert exact.nbytes - matrix.nbytes > vectors.nbytes  # the rows are not counted as RAM
    assert list(spill.iterdir()) == []  # the mapped file is unlinked at once


def test_ivf_sees_writes_replacements_removals_and_expiry(tmp_path: Path) -> None:
    matrix, vectors = ivf_matrix(4000, tmp_path)
    fresh = unit_rows(-vectors[5])[0]
    matrix.put("new", fresh)
    assert matrix.search(fresh[None, :], 1)[0][0][0] == "new"

    matrix.put("r9", fresh)  # a replaced vector that moves to another cluster
    assert {i for i, _ in matrix.search(fresh[None, :], 2)[0]} == {"new", "r9"}
    assert "r9" not in {i for i, _ in matrix.search(vectors[9][None, :], 3)[0]}

    matrix.set_expired("new", True)
    assert "new" not in {i for i, _ in matrix.search(fresh[None, :], 5)[0]}
    assert matrix.search(fresh[None, :], 1, include_expired=True)[0][0][0] in {"new", "r9"}

    for row in range(1500):  # enough removals to regroup the rows
        matrix.remove(f"r{row}")
    assert len(matrix) == 4000 + 1 - 1500
    assert matrix.search(vectors[100][None, :], 1)[0][0][0] != "r100"
    assert matrix.search(vectors[3999][None, :], 1)[0][0][0] == "r3999"
    assert matrix.search(fresh[None, :], 1, include_expired=True)[0][0][0] == "new"


def test_ivf_regroups_a_large_tail_of_new_rows(tmp_path: Path) -> None:
    matrix, _ = ivf_matrix(3000, tmp_path)
    extra = clustered_vectors(2500, dim=64, seed=5)
    for i, vector in enumerate(extra):
        matrix.put(f"n{i}", vector)

    assert matrix._sorted > 3000  # the tail was folded into the cluster order
    assert len(matrix) == 5500
    found = matrix.search(extra[:20], 1)
    assert sum(hits[0][0] == f"n{i}" for i, hits in enumerate(found)) >= 19


@pytest.mark.anyio
async def test_auto_uses_ivf_from_ann_min_rows_and_exact_below(tmp_path: Path) -> None:
    index = LanceVectorIndex(
        tmp_path / "lance", dim=64, ann_min_rows=2000, spill_dir=tmp_path / "spill"
    )
    await index.open()
    big = clustered_vectors(2500, dim=64, seed=2)
    small = clustered_vectors(300, dim=64, seed=3)
    await index.upsert(RECORDS, rows_for("big", big))
    await index.upsert(RECORDS, rows_for("small", small, prefix="s"))

    big_hits = await index.search(RECORDS, "big", big[[42]], k=3)
    small_hits = await index.search(RECORDS, "small", small[[7]], k=3)
    kinds = {entry["user_id"]: entry["kind"] for entry in await index.cache_info()}
    await index.upsert(RECORDS, [VectorRow(item_id="late", user_id="big", vector=-big[42])])
    late = await index.search(RECORDS, "big", -big[[42]], k=1)
    await index.delete(RECORDS, "big", ["r42"])
    gone = await index.search(RECORDS, "big", big[[42]], k=3)
    leaked = await index.search(RECORDS, "small", big[[42]], k=300)
    await index.close()

    assert kinds == {"big": "ivf", "small": "exact"}
    assert big_hits[0][0] == ("r42", pytest.approx(1.0, abs=1e-5))
    assert small_hits[0][0] == ("s7", pytest.approx(1.0, abs=1e-5))
    assert late[0][0][0] == "late"
    assert "r42" not in {item_id for item_id, _ in gone[0]}
    assert len(leaked[0]) == 300 and all(item_id.startswith("s") for item_id, _ in leaked[0])


@pytest.mark.anyio
async def test_cache_budget_is_shared_by_tenants_and_evicts_the_oldest(tmp_path: Path) -> None:
    # 1 MiB holds one tenant's 500 x 256-d exact matrix (~0.7 MiB with headroom), not two.
    index = LanceVectorIndex(tmp_path / "lance", dim=256, cache_mb=1)
    await index.open()
    for user in ("alice", "bob"):
        vectors = clustered_vectors(500, seed=len(user))
        await index.upsert(RECORDS, rows_for(user, vectors, prefix=user[0]))

    await index.search(RECORDS, "alice", clustered_vectors(1, seed=9), k=3)
    first = {entry["user_id"] for entry in await index.cache_info() if entry["rows"]}
    hits = await index.search(RECORDS, "bob", clustered_vectors(500, seed=3)[[5]], k=1)
    info = await index.cache_info()
    await index.close()

    assert first == {"alice"}
    assert {entry["user_id"] for entry in info if entry["rows"]} == {"bob"}
    assert sum(entry["bytes"] for entry in info) <= 1024 * 1024
    assert hits[0][0] == ("b5", pytest.approx(1.0, abs=1e-5))
