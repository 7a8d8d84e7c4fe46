"""Helpers of the security suite."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lycheemem.app import create_app
from lycheemem.testing import HashingEmbedder, make_test_settings, serve_in_thread

HEADER = {"type": "header", "format": "lycheemem.export", "version": 1}


def import_body(*lines: str | dict[str, Any]) -> bytes:
    """A JSONL import body: the export header, then each line (dicts are encoded)."""
    encoded = [line if isinstance(line, str) else json.dumps(line) for line in lines]
    return "\n".join([json.dumps(HEADER), *encoded]).encode()


@dataclass(slots=True)
class Live:
    """A live server's base URL."""

    base: str

    def url(self, path: str) -> str:
        """Absolute URL of ``path``."""
        return f"{self.base}{path}"


@contextmanager
def live_server(tmp: Path, **overrides: Any) -> Iterator[Live]:
    """Serve a memory-only app (hashing embedder) with uvicorn on 127.0.0.1 until exit."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("LYCHEEMEM_"):
                patch.delenv(name, raising=False)
        settings = make_test_settings(tmp, **overrides)
    app = create_app(settings, embedder=HashingEmbedder(64))
    with serve_in_thread(app, proxy_headers=False) as base:
        yield Live(base=base)
