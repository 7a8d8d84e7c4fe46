"""Shared fixtures: the network is off, the environment is clean, apps run with their lifespan."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lycheemem.app import create_app
from lycheemem.bootstrap import AppContext, build_context
from lycheemem.config import Settings
from lycheemem.domain.ports import LLM
from lycheemem.testing import HashingEmbedder, make_test_settings

pytest_plugins = ["pg_support"]

_real_connect = socket.socket.connect


def _is_local(address: Any) -> bool:
    if isinstance(address, (str, bytes)):
        return True  # unix socket
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if not _is_local(address):
        raise ConnectionRefusedError(f"tests may not open network connections (to {address!r})")
    return _real_connect(self, address)


@pytest.fixture(autouse=True, scope="session")
def _no_network() -> Iterator[None]:
    """Any connection to a non-loopback address fails: providers can never reach the internet."""
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings of the machine running the tests never leak into them."""
    for name in list(os.environ):
        if name.startswith("LYCHEEMEM_") or name in (
            "LLM_MODEL",
            "LLM_API_KEY",
            "LLM_API_BASE",
            "EMBEDDING_MODEL",
            "EMBEDDING_DIM",
            "EMBEDDING_API_KEY",
            "EMBEDDING_API_BASE",
        ):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def anyio_backend() -> str:
    """Run ``@pytest.mark.anyio`` tests on asyncio."""
    return "asyncio"


# The suites that prove features run once per storage backend (README "Scaling out").
BOTH_BACKENDS = ("api", "mcp", "security")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test of the feature suites that builds an app on both backends."""
    if "backend" not in metafunc.fixturenames:
        return
    suite = Path(str(metafunc.definition.path)).relative_to(Path(__file__).parent).parts[0]
    if suite not in BOTH_BACKENDS:
        return
    only_embedded = metafunc.definition.get_closest_marker("embedded_only") is not None
    backends = ["embedded"] if only_embedded else ["embedded", "postgres"]
    metafunc.parametrize("backend", backends, indirect=True, scope="module")


@pytest.fixture(scope="module")
def backend(request: pytest.FixtureRequest) -> str:
    """``embedded`` or ``postgres``: the storage backend the test's app runs on."""
    return str(getattr(request, "param", "embedded"))


@pytest.fixture
def settings(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Settings:
    """Memory-only test settings in a temp data dir; the demo counts as not built, whatever
    ``web-demo/dist`` holds in the checkout."""
    from pg_support import backend_overrides  # the plugin is registered by then

    return make_test_settings(
        tmp_path,
        demo_dir=str(tmp_path / "demo-not-built"),
        **backend_overrides(request, backend),
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The ASGI app with its lifespan running, in memory-only mode."""
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def make_user(client: TestClient) -> Any:
    """Register a user and return request headers carrying its bearer token."""

    def register(username: str, password: str = "correct-horse-1") -> dict[str, str]:
        body = {"username": username, "password": password}
        response = client.post("/auth/register", json=body)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}

    return register


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
