"""Fixtures for pipeline tests: an opened app context on a temp data dir."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from lycheemem.bootstrap import AppContext, build_context
from lycheemem.memory.protocols import LLM
from lycheemem.testing import HashingEmbedder, make_test_settings


@pytest.fixture
async def open_context(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Open app contexts (closed at the end); ``open_context(llm=..., **settings)``."""
    opened: list[AppContext] = []

    async def factory(llm: LLM | None = None, **overrides: Any) -> AppContext:
        settings = make_test_settings(tmp_path, **overrides)
        ctx = build_context(settings, llm=llm, embedder=HashingEmbedder(64))
        await ctx.open()
        opened.append(ctx)
        return ctx

    yield factory
    for ctx in opened:
        await ctx.close()
