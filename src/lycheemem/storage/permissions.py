"""Private data directories: every tenant's memories and password hashes live there.

``secure_data_dir`` creates the directory 0700 and the SQLite file 0600 whatever the
process umask (SQLite gives its ``-wal``/``-shm`` files the database file's mode), and
reports existing paths that others can read so startup can warn about them.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["DIR_MODE", "FILE_MODE", "loose_paths", "secure_data_dir"]

DIR_MODE = 0o700
FILE_MODE = 0o600
_SQLITE_SUFFIXES = ("", "-wal", "-shm")


def secure_data_dir(data_dir: Path, db_path: Path) -> list[str]:
    """Create ``data_dir`` (0700) and ``db_path`` (0600) when missing.

    Existing paths keep their mode (an operator may share a volume on purpose); the
    returned list names each one that group or others can access, with its mode.
    """
    if not data_dir.exists():
        data_dir.mkdir(parents=True, mode=DIR_MODE)
        os.chmod(data_dir, DIR_MODE)  # mkdir's mode is filtered by the umask
    if not db_path.exists():
        fd = os.open(db_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        os.close(fd)
        os.chmod(db_path, FILE_MODE)
    return loose_paths(data_dir, db_path)


def loose_paths(data_dir: Path, db_path: Path) -> list[str]:
    """``"<path> (mode 0o755)"`` for the data dir and SQLite files others can access."""
    found: list[str] = []
    candidates = [data_dir, *(Path(f"{db_path}{suffix}") for suffix in _SQLITE_SUFFIXES)]
    for path in candidates:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            found.append(f"{path} (mode {oct(mode)})")
    return found
