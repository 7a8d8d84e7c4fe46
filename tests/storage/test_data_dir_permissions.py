"""The data directory is private: 0700 directory, 0600 SQLite files, whatever the umask."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from lycheemem.bootstrap import build_context
from lycheemem.testing import HashingEmbedder, make_test_settings

pytestmark = pytest.mark.anyio


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


async def _open_and_write(tmp_path: Path) -> Path:
    settings = make_test_settings(tmp_path)
    ctx = build_context(settings, embedder=HashingEmbedder(64))
    await ctx.open()
    try:
        await ctx.service.append_turn(user_id="", session_id="s1", role="user", content="hi")
        assert Path(f"{settings.db_path}-wal").exists()
        return settings.data_dir
    finally:
        await ctx.close()


async def test_fresh_data_dir_is_private(tmp_path: Path, permissive_umask: None) -> None:
    data_dir = await _open_and_write(tmp_path)
    assert _mode(data_dir) == 0o700
    for name in ("lycheemem.db", "lycheemem.db-wal", "lycheemem.db-shm", "jwt_secret"):
        path = data_dir / name
        if path.exists():
            assert _mode(path) == 0o600, name


async def test_loose_existing_data_dir_is_reported(
    tmp_path: Path, permissive_umask: None, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "data").mkdir(mode=0o755)
    os.chmod(tmp_path / "data", 0o755)
    with caplog.at_level(logging.WARNING, logger="lycheemem.bootstrap"):
        await _open_and_write(tmp_path)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("data (mode 0o755)" in w and "accessible" in w for w in warnings), warnings
