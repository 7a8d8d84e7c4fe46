"""A real server killed with SIGKILL, then restarted on the same data directory: every
acknowledged turn is there, jobs finish, SQLite and LanceDB agree, search finds the records."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from reliability_support import Server, server, storage_ids

FACTS = [
    "My sister Ines lives in Porto.",
    "I prefer window seats on long flights.",
    "Our staging cluster is called Hopper.",
    "I am allergic to peanuts.",
    "The quarterly report is due on Fridays.",
    "My favourite editor is Vim.",
]


def _fact(n: int) -> str:
    return f"{FACTS[n % len(FACTS)]} (note {n})"


def _wait_idle(client: httpx.Client, timeout_s: float = 240) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        status = client.get("/pipeline/status").json()
        if status["queued_jobs"] == 0 and status["running_jobs"] == 0:
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.3)


def _turns(client: httpx.Client, session_id: str) -> list[str]:
    response = client.get(f"/memory/session/{session_id}", params={"limit": 5000})
    assert response.status_code == 200, response.text
    return [turn["content"] for turn in response.json()["turns"]]


def _consolidated_and_consistent(live: Server, sessions: list[str], data_dir: Path) -> None:
    with live.client() as client:
        _wait_idle(client)
        for session_id in sessions:
            body = {"session_id": session_id, "background": False}
            result = client.post("/memory/consolidate", json=body).json()
            assert result["status"] in ("done", "skipped"), result
        status = _wait_idle(client)
        assert status["failed_jobs"] == 0 and status["record_count"] > 0, status
        hits = client.post("/memory/search", json={"query": "Where does Ines live?"}).json()
        assert any("Porto" in str(hit) for hit in hits["semantic_results"]), hits
    live.stop()
    for table, (rows, vectors) in storage_ids(data_dir).items():
        assert rows == vectors, table


# Two server starts and a consolidation each: well past the default per-test timeout.
@pytest.mark.timeout(420)
def test_sigkill_during_ingest_loses_no_acknowledged_turn(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    acknowledged: list[tuple[str, str]] = []
    live = Server(data_dir)

    def ingest() -> None:
        with live.client() as client:
            for n in range(10_000):
                session_id = f"s{n % 2}"
                body = {"session_id": session_id, "role": "user", "content": _fact(n)}
                try:
                    response = client.post("/memory/append-turn", json=body)
                except httpx.TransportError:
                    return
                assert response.status_code == 200, response.text
                acknowledged.append((session_id, body["content"]))

    writer = threading.Thread(target=ingest)
    writer.start()
    while len(acknowledged) < 40:
        time.sleep(0.05)
    live.kill()
    writer.join(timeout=60)

    with server(data_dir) as again:
        with again.client() as client:
            stored = {sid: set(_turns(client, sid)) for sid in ("s0", "s1")}
        missing = [(sid, text) for sid, text in acknowledged if text not in stored[sid]]
        assert missing == []
        _consolidated_and_consistent(again, ["s0", "s1"], data_dir)


@pytest.mark.timeout(420)
def test_sigkill_during_consolidation_recovers(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    settings = {"auto_consolidate": "false", "consolidate_batch_turns": "2"}
    texts = [_fact(n) for n in range(60)]
    live = Server(data_dir, **settings)
    with live.client() as client:
        for text in texts:
            body = {"session_id": "long", "role": "user", "content": text}
            assert client.post("/memory/append-turn", json=body).status_code == 200
        started = client.post("/memory/consolidate", json={"session_id": "long"}).json()
        assert started["status"] == "started", started
        deadline = time.monotonic() + 120
        while client.get("/pipeline/status").json()["record_count"] == 0:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    live.kill()

    with server(data_dir, **settings) as again:
        with again.client() as client:
            assert _turns(client, "long") == texts
            _wait_idle(client)
            last = client.get("/pipeline/last-consolidation", params={"session_id": "long"})
            assert last.json()["status"] in ("done", "skipped"), last.json()
        _consolidated_and_consistent(again, ["long"], data_dir)
