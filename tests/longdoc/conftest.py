"""Fixtures for long-document tests: real SQLite and LanceDB in tmp_path, offline models."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from longdoc_support import make_settings

from lycheemem.domain.ports import TokenCounter
from lycheemem.longdoc.backends.base import LongDocModel
from lycheemem.longdoc.bank_factory import build_bank
from lycheemem.longdoc.service import LongDocService
from lycheemem.providers.tokens import build_token_counter
from lycheemem.storage.sqlite.database import Database
from lycheemem.testing import HashingEmbedder

ServiceFactory = Callable[..., Awaitable[LongDocService]]


@pytest.fixture(scope="session")
def counter() -> TokenCounter:
    """The real token counter (tiktoken from local files)."""
    return build_token_counter()


@pytest.fixture
async def make_service(tmp_path: Path, counter: TokenCounter) -> AsyncIterator[ServiceFactory]:
    """Build started services on one database; all are closed at teardown."""
    db = Database(tmp_path / "lycheemem.db", synchronous="NORMAL")
    await db.open()
    services: list[LongDocService] = []

    async def build(model: LongDocModel | None = None, **overrides: Any) -> LongDocService:
        service = LongDocService(
            make_settings(**overrides),
            build_bank(db, lance_dir=tmp_path / "lance", dim=64),
            HashingEmbedder(64),
            counter,
            model=model,
        )
        await service.start()
        services.append(service)
        return service

    yield build
    for service in services:
        await service.close()
    await db.close()
