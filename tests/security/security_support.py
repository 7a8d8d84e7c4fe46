"""Helpers of the security suite."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from lycheemem.app import create_app
from lycheemem.testing import HashingEmbedder, make_test_settings

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
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(settings, embedder=HashingEmbedder(64))
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", proxy_headers=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield Live(base=f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        sock.close()
