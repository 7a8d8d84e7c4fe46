"""Auth under hostile use: passwords as typed, hashing off the loop, login limits, revocation."""

from __future__ import annotations

import asyncio
import threading

import httpx
from fastapi.testclient import TestClient

from lycheemem.app import create_app
from lycheemem.auth.passwords import HashingPool
from lycheemem.testing import HashingEmbedder, make_test_settings


def test_password_is_kept_as_typed(client: TestClient) -> None:
    body = {"username": "spacey", "password": "  spaced pass  "}
    assert client.post("/auth/register", json=body).status_code == 200
    assert client.post("/auth/login", json=body).status_code == 200
    trimmed = client.post("/auth/login", json={"username": "spacey", "password": "spaced pass"})
    assert trimmed.status_code == 401


def _app(tmp_path, *, peer: str = "127.0.0.1", **overrides) -> TestClient:
    # Small budgets keep the number of (deliberately slow) password checks low.
    limits = {"login_failures_per_address": 4, "login_failures_per_username": 2}
    settings = make_test_settings(tmp_path, **{**limits, **overrides})
    return TestClient(create_app(settings, embedder=HashingEmbedder(64)), client=(peer, 40000))


def _login(client: TestClient, username: str, password: str, forwarded: str | None = None):
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    body = {"username": username, "password": password}
    return client.post("/auth/login", json=body, headers=headers)


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(tmp_path) -> None:
    with _app(tmp_path) as client:
        codes = [_login(client, f"u{n}", "guess", f"10.0.0.{n}").status_code for n in range(5)]
    assert codes[:4] == [401] * 4 and codes[4] == 429, codes


def test_trusted_proxy_forwarded_address_is_the_client(tmp_path) -> None:
    with _app(tmp_path, trusted_proxies="127.0.0.0/8") as client:
        chain = "10.9.9.9, 127.0.0.5"  # the right-most untrusted hop is the client
        codes = [_login(client, f"u{n}", "guess", chain).status_code for n in range(5)]
        assert codes[:4] == [401] * 4 and codes[4] == 429, codes
        assert _login(client, "u0", "guess", "10.9.9.10").status_code == 401


def test_spraying_many_usernames_from_one_address_is_limited(tmp_path) -> None:
    with _app(tmp_path) as client:
        codes = [_login(client, f"user{n}", "guess").status_code for n in range(5)]
    assert codes[:4] == [401] * 4 and codes[4] == 429, codes


def test_failures_elsewhere_do_not_lock_out_the_right_password(tmp_path) -> None:
    with _app(tmp_path, trusted_proxies="127.0.0.1") as client:
        assert client.post("/auth/register", json={"username": "erin", "password": "pw-123456"})
        for _ in range(2):
            assert _login(client, "erin", "wrong-pass", "10.6.6.6").status_code == 401
        assert _login(client, "erin", "pw-123456", "10.6.6.6").status_code == 429
        assert _login(client, "erin", "pw-123456", "10.1.2.3").status_code == 200


def test_login_flood_beyond_the_hashing_queue_gets_429(tmp_path) -> None:
    async def flood() -> list[int]:
        settings = make_test_settings(tmp_path, password_hash_concurrency=1, password_hash_queue=0)
        app = create_app(settings, embedder=HashingEmbedder(64))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                body = {"username": "nobody", "password": "wrong-pass"}
                calls = [http.post("/auth/login", json=body) for _ in range(6)]
                return [r.status_code for r in await asyncio.gather(*calls)]

    codes = asyncio.run(flood())
    assert 401 in codes and 429 in codes, codes


def test_hashing_runs_off_the_event_loop(tmp_path) -> None:
    async def threads_used() -> set[str]:
        pool = HashingPool(concurrency=1, queue=0)
        try:
            await pool.hash("pw-123456")
            return {thread.name for thread in threading.enumerate()}
        finally:
            pool.close()

    assert any(name.startswith("argon2") for name in asyncio.run(threads_used()))


def test_delete_account_removes_every_trace_and_revokes_tokens(tmp_path) -> None:
    with _app(tmp_path) as client:
        token = client.post(
            "/auth/register", json={"username": "gone", "password": "pw-123456"}
        ).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        other = client.post("/auth/login", json={"username": "gone", "password": "pw-123456"})
        other_headers = {"Authorization": f"Bearer {other.json()['token']}"}
        turn = {"session_id": "s1", "role": "user", "content": "I prefer window seats."}
        assert client.post("/memory/append-turn", json=turn, headers=headers).status_code == 200
        body = {"session_id": "s1", "background": False}
        assert (
            client.post("/memory/consolidate", json=body, headers=headers).json()["status"]
            == "done"
        )
        document = {"title": "Notes", "text": "Window seats are preferred. " * 20}
        assert client.post("/longdoc/documents", json=document, headers=headers).status_code < 300
        search = {"query": "window seats"}
        assert client.post("/memory/search", json=search, headers=headers).status_code == 200
        user_id = client.get("/auth/me", headers=headers).json()["user_id"]
        wrong = client.request("DELETE", "/auth/me", json={"password": "nope"}, headers=headers)
        assert wrong.status_code == 403
        deleted = client.request(
            "DELETE", "/auth/me", json={"password": "pw-123456"}, headers=headers
        )
        assert deleted.status_code == 200, deleted.text
        assert deleted.json()["deleted"]["records"] >= 1
        assert deleted.json()["deleted"]["long_documents"] == 1
        for used in (headers, other_headers):
            assert client.get("/auth/me", headers=used).status_code == 401
        ctx = client.app.state.ctx
        leftovers = _rows_of(ctx, user_id)
        assert leftovers == {}, leftovers
        for table in ("memory_records", "composite_records", "skills"):
            assert client.portal.call(ctx.vectors.count, table, user_id) == 0, table


def _rows_of(ctx, user_id: str) -> dict[str, int]:
    import sqlite3

    conn = sqlite3.connect(ctx.settings.db_path)
    try:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%user_id%'"
            )
        ]
        found = {}
        for table in tables:
            count = conn.execute(
                f"SELECT COUNT(*) FROM {table} WHERE user_id = ?", (user_id,)
            ).fetchone()[0]
            if count:
                found[table] = count
        return found
    finally:
        conn.close()
