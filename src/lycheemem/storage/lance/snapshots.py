"""Persisted IVF indexes of big tenants, so that a restart does not cluster them again.

One folder per (user, table, column) under the snapshot root (``<data dir>/vector-index``):

- ``rows-<token>.f32``: the float32 rows, ``capacity x dim``, in the index's row order
  (grouped by cluster); memory-mapped copy-on-write when loaded, so the file never changes;
- ``state-<token>.npz``: the ids (Arrow string buffers), flags, cluster ids, offsets and
  centroids;
- ``meta.json``: the commit point, written last and atomically: format, key, dimension,
  row counts, the LanceDB table version the snapshot matches and a CRC-32 of both files.

Files are 0600, folders 0700. A snapshot whose meta, sizes or checksums do not match is
discarded, never trusted. Whether its content is still the tenant's rows is the caller's
business (``LanceVectorIndex`` discards a tenant's snapshots before it writes the tenant's
rows and compares table versions); this module only stores and checks files.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import secrets
import shutil
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from lycheemem.storage.lance.cache import CacheKey
from lycheemem.storage.lance.ivf import IvfMatrix

__all__ = ["FORMAT", "Snapshot", "SnapshotStore"]

log = logging.getLogger(__name__)

FORMAT = 1
_META = "meta.json"
_ROWS_NAME = re.compile(r"rows-[0-9a-f]{16}\.f32")
_STATE_NAME = re.compile(r"state-[0-9a-f]{16}\.npz")
# Rows per write / checksum step: bounds the temporary copies of a big memory-mapped matrix.
_CHUNK_ROWS = 65_536
# What a damaged or foreign file may raise while it is read back.
_BAD_FILE = (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, pa.ArrowException)

Snapshot = dict[str, Any]


class SnapshotStore:
    """Saved ``IvfMatrix`` snapshots under ``root``, checked before they are used.

    Promises: ``save`` leaves either the previous snapshot of the key or the new one, never
    a mix (the meta file is replaced last, atomically); ``load`` returns an index equal to
    the one saved or None (a damaged, truncated or mismatched snapshot is deleted).
    """

    def __init__(self, root: Path, *, dim: int, spill_dir: Path | None = None) -> None:
        self.root = Path(root)
        self.dim = dim
        self.spill_dir = spill_dir

    def folder(self, key: CacheKey) -> Path:
        """The folder of ``key``'s snapshot (a digest: user ids never become paths)."""
        digest = hashlib.sha256(json.dumps(list(key)).encode()).hexdigest()[:32]
        return self.root / digest

    def exists(self, key: CacheKey) -> bool:
        """Whether a committed snapshot of ``key`` is on disk (unchecked)."""
        return (self.folder(key) / _META).is_file()

    def metas(self) -> Iterator[tuple[Path, Snapshot | None]]:
        """Every snapshot folder with its meta (None where it is missing or unreadable)."""
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if folder.is_dir():
                yield folder, _read_meta(folder)

    def meta(self, key: CacheKey) -> Snapshot | None:
        """The meta of ``key``'s snapshot, or None."""
        return _read_meta(self.folder(key))

    def prune(self, keep: Callable[[Snapshot], bool]) -> int:
        """Delete every snapshot whose meta is unreadable or that ``keep`` rejects, and the
        leftovers of unfinished saves; returns how many snapshots were deleted."""
        deleted = 0
        for folder, meta in self.metas():
            if meta is None or not keep(meta):
                shutil.rmtree(folder, ignore_errors=True)
                deleted += 1
            else:
                files = {_META, str(meta.get("rows_file")), str(meta.get("state_file"))}
                _remove_strays(folder, keep=files)
        return deleted

    # -- writing -------------------------------------------------------------

    def save(
        self, key: CacheKey, matrix: IvfMatrix, *, table_version: int, tenant_rows: int
    ) -> None:
        """Persist ``matrix`` as ``key``'s snapshot, matching ``table_version``; afterwards
        ``matrix`` serves its rows from the saved file (copy-on-write)."""
        folder = self.folder(key)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.root.chmod(0o700)
        token = secrets.token_hex(8)
        rows_file, state_file = f"rows-{token}.f32", f"state-{token}.npz"
        rows_crc = _write_rows(folder / rows_file, matrix.rows, len(matrix.ids))
        state = _encode_state(matrix)
        _write_file(folder / state_file, state)
        meta: Snapshot = {
            "format": FORMAT,
            "user_id": key[0],
            "table": key[1],
            "column": key[2],
            "dim": self.dim,
            "used": len(matrix.ids),
            "capacity": int(matrix.rows.shape[0]),
            "tenant_rows": tenant_rows,
            "table_version": table_version,
            "rows_file": rows_file,
            "rows_crc32": rows_crc,
            "state_file": state_file,
            "state_crc32": zlib.crc32(state),
        }
        _write_file(folder / _META, json.dumps(meta).encode(), atomic=True)
        _remove_strays(folder, keep={_META, rows_file, state_file})
        matrix.use_rows(_map_rows(folder / rows_file, meta))

    def recertify(self, key: CacheKey, table_version: int) -> None:
        """Record that ``key``'s snapshot still matches the table at ``table_version``."""
        meta = self.meta(key)
        if meta is not None and meta["table_version"] != table_version:
            meta["table_version"] = table_version
            _write_file(self.folder(key) / _META, json.dumps(meta).encode(), atomic=True)

    def discard(self, key: CacheKey) -> None:
        """Delete ``key``'s snapshot (a mapping already open keeps its rows readable)."""
        folder = self.folder(key)
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)

    # -- reading -------------------------------------------------------------

    def load(self, key: CacheKey) -> tuple[IvfMatrix, Snapshot] | None:
        """``key``'s snapshot as an index with its meta, or None (nothing saved, or a snapshot
        that fails a check: deleted, so the caller rebuilds it)."""
        folder = self.folder(key)
        meta = _read_meta(folder)
        if meta is None:
            return None
        try:
            self._check_meta(meta, key)
            matrix = self._read(folder, meta)
        except _BAD_FILE as error:
            log.warning("discarding the saved vector index in %s: %s", folder, error)
            self.discard(key)
            return None
        return matrix, meta

    def _check_meta(self, meta: Snapshot, key: CacheKey) -> None:
        if meta.get("format") != FORMAT or meta.get("dim") != self.dim:
            raise ValueError("format or dimension differs")
        if (meta.get("user_id"), meta.get("table"), meta.get("column")) != key:
            raise ValueError("it belongs to another key")
        names = (str(meta.get("rows_file")), str(meta.get("state_file")))
        if not (_ROWS_NAME.fullmatch(names[0]) and _STATE_NAME.fullmatch(names[1])):
            raise ValueError("it names files outside its folder")

    def _read(self, folder: Path, meta: Snapshot) -> IvfMatrix:
        state_bytes = (folder / meta["state_file"]).read_bytes()
        if zlib.crc32(state_bytes) != meta["state_crc32"]:
            raise ValueError("state checksum mismatch")
        ids, state = _decode_state(state_bytes)
        if len(ids) != meta["used"]:
            raise ValueError("id count differs from the meta")
        rows = _map_rows(folder / meta["rows_file"], meta)
        if _rows_crc(rows, meta["used"]) != meta["rows_crc32"]:
            raise ValueError("rows checksum mismatch")
        return IvfMatrix.restore(ids, rows, state, spill_dir=self.spill_dir)


def _read_meta(folder: Path) -> Snapshot | None:
    try:
        meta = json.loads((folder / _META).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _write_file(path: Path, content: bytes, *, atomic: bool = False) -> None:
    """Write ``content`` to ``path`` (mode 0600) and flush it to disk; ``atomic`` writes a
    temporary file first and renames it over ``path``."""
    target = path.with_name(path.name + f".tmp-{secrets.token_hex(4)}") if atomic else path
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(content)
        out.flush()
        os.fsync(out.fileno())
    if atomic:
        os.replace(target, path)
        _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_rows(path: Path, rows: np.ndarray, used: int) -> int:
    """Write the first ``used`` rows, size the file to the whole capacity (a sparse tail)
    and return the CRC-32 of the rows written."""
    crc = 0
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        for start in range(0, used, _CHUNK_ROWS):
            block = np.ascontiguousarray(rows[start : min(used, start + _CHUNK_ROWS)])
            crc = zlib.crc32(block.data, crc)
            out.write(block.data)
        out.truncate(rows.shape[0] * rows.shape[1] * 4)
        out.flush()
        os.fsync(out.fileno())
    return crc


def _rows_crc(rows: np.ndarray, used: int) -> int:
    crc = 0
    for start in range(0, used, _CHUNK_ROWS):
        block = np.ascontiguousarray(rows[start : min(used, start + _CHUNK_ROWS)])
        crc = zlib.crc32(block.data, crc)
    return crc


def _map_rows(path: Path, meta: Snapshot) -> np.ndarray:
    """The rows file mapped copy-on-write (writes stay private to the process)."""
    shape = (int(meta["capacity"]), int(meta["dim"]))
    if path.stat().st_size != shape[0] * shape[1] * 4 or not 0 <= meta["used"] <= shape[0]:
        raise ValueError("the rows file is truncated or of the wrong size")
    return np.memmap(path, dtype=np.float32, mode="c", shape=shape)


def _encode_state(matrix: IvfMatrix) -> bytes:
    ids = pa.array(matrix.ids, type=pa.large_string())
    _, offsets, data = ids.buffers()
    arrays = matrix.export_state()
    arrays["id_offsets"] = np.frombuffer(offsets, dtype=np.int64)[: len(ids) + 1]
    arrays["id_bytes"] = (
        np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    )
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def _decode_state(content: bytes) -> tuple[list[str], dict[str, np.ndarray]]:
    with np.load(io.BytesIO(content), allow_pickle=False) as saved:
        arrays = {name: saved[name] for name in saved.files}
    offsets, data = arrays.pop("id_offsets"), arrays.pop("id_bytes")
    if len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != len(data):
        raise ValueError("the saved ids are damaged")
    ids = pa.LargeStringArray.from_buffers(
        len(offsets) - 1, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data.tobytes())
    )
    ids.validate(full=True)
    return ids.to_pylist(), arrays


def _remove_strays(folder: Path, keep: set[str]) -> None:
    """Delete files of earlier or unfinished saves."""
    for path in folder.iterdir():
        if path.name not in keep:
            path.unlink(missing_ok=True)
