"""Two real LycheeMem server processes (``python main.py serve``) on one PostgreSQL database.

What a load balancer in front of several replicas relies on: appends to one session through
both keep one gap-free order, each consolidation job runs once, what one replica writes the
other finds, a token revoked through one is refused by the other within
``LYCHEEMEM_USER_CACHE_TTL_S``, and a job whose replica is killed with SIGKILL is finished by
the other once its lease (``LYCHEEMEM_JOB_LEASE_S``) has run out.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reliability"))
from reliability_support import Server  # noqa: E402

from pg_support import migrated_database  # noqa: E402

USER_CACHE_TTL_S = 2.0
JOB_LEASE_S = 4.0
SETTINGS = {
    "auto_consolidate": "false",
    "user_cache_ttl_s": str(USER_CACHE_TTL_S),
    "job_lease_s": str(JOB_LEASE_S),
}

pytestmark = pytest.mark.timeout(600)

# One unrelated fact per session: the same text stored twice could only come from a job that
# ran twice (alike facts of concurrent jobs may legitimately both be kept).
DISTINCT_FACTS = [
    "My sister Ines lives in Porto and works as an architect.",
    "I prefer window seats on long flights.",
    "Our staging database runs on port 5433.",
    "I am allergic to peanuts.",
    "The quarterly report is due on the last Friday of March.",
    "My favourite editor is Vim.",
    "Bruno plays the cello in a youth orchestra.",
    "We adopted a grey cat called Pixel in 2021.",
    "The office wifi password changes every Monday.",
    "My dentist appointment is on the ninth of June.",
    "Our team deploys with Kubernetes on Hetzner.",
    "I run ten kilometres every Sunday morning.",
]


class Replicas:
    """Two servers on one database, plus a superuser connection string to inspect it."""

    def __init__(self, url: str, tmp: Path) -> None:
        self.url = url
        self.tmp = tmp
        self.servers = [self.start(n) for n in (1, 2)]

    def start(self, n: int, **extra: str) -> Server:
        data_dir = self.tmp / f"replica-{n}-{time.monotonic_ns()}" / "data"
        data_dir.mkdir(parents=True)
        return Server(data_dir, database_url=self.url, **SETTINGS, **extra)

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of ``query`` as the database owner (sees every tenant)."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()


@pytest.fixture(scope="module")
def replicas(
    pg_server: Any, pg_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Replicas]:
    """Two running replicas on a fresh database (stopped at the end)."""
    pair = Replicas(migrated_database(pg_server, pg_template), tmp_path_factory.mktemp("two"))
    try:
        yield pair
    finally:
        for server in pair.servers:
            if server.process.poll() is None:
                server.stop()


def _register(base: str, username: str) -> dict[str, str]:
    body = {"username": username, "password": "pw-123456"}
    response = httpx.post(f"{base}/auth/register", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _append(base: str, headers: dict[str, str], session_id: str, content: str) -> int:
    body = {"session_id": session_id, "role": "user", "content": content}
    response = httpx.post(f"{base}/memory/append-turn", json=body, headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    return int(response.json()["turn_index"])


def _turns(base: str, headers: dict[str, str], session_id: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{base}/memory/session/{session_id}",
        params={"limit": 5000},
        headers=headers,
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return list(response.json()["turns"])


def _wait_jobs_finished(replicas: Replicas, user_id: str, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        open_jobs = replicas.sql(
            "SELECT count(*) FROM jobs WHERE user_id = %s AND status IN ('queued', 'running')",
            user_id,
        )[0][0]
        if open_jobs == 0:
            return
        assert time.monotonic() < deadline, f"{open_jobs} jobs still open"
        time.sleep(0.2)


def _user_id(base: str, headers: dict[str, str]) -> str:
    return str(httpx.get(f"{base}/auth/me", headers=headers, timeout=60).json()["user_id"])


def test_a_token_from_one_replica_is_accepted_by_the_other(replicas: Replicas) -> None:
    one, two = (server.base for server in replicas.servers)
    headers = _register(one, "shared-token")
    assert httpx.get(f"{two}/auth/me", headers=headers, timeout=60).status_code == 200


def test_concurrent_appends_through_both_keep_one_gap_free_order(replicas: Replicas) -> None:
    one, two = (server.base for server in replicas.servers)
    headers = _register(one, "appender")
    texts = [f"turn number {n}" for n in range(80)]

    def send(n: int) -> int:
        return _append((one, two)[n % 2], headers, "shared", texts[n])

    with ThreadPoolExecutor(max_workers=8) as pool:
        indices = list(pool.map(send, range(len(texts))))
    assert sorted(indices) == list(range(len(texts)))
    for base in (one, two):
        turns = _turns(base, headers, "shared")
        assert [turn["turn_index"] for turn in turns] == list(range(len(texts)))
        assert sorted(turn["content"] for turn in turns) == sorted(texts)
        # each acknowledged index holds the text that was sent with it
        by_index = {turn["turn_index"]: turn["content"] for turn in turns}
        assert {by_index[index] for index in indices} == set(texts)


def test_a_burst_of_consolidations_runs_each_job_once(replicas: Replicas) -> None:
    one, two = (server.base for server in replicas.servers)
    headers = _register(one, "burst")
    user_id = _user_id(one, headers)
    sessions = [f"burst-{n}" for n in range(len(DISTINCT_FACTS))]
    for session_id, fact in zip(sessions, DISTINCT_FACTS, strict=True):
        _append(one, headers, session_id, fact)

    def consolidate(n: int) -> dict[str, Any]:
        body = {"session_id": sessions[n % len(sessions)]}
        response = httpx.post(
            f"{(one, two)[n % 2]}/memory/consolidate", json=body, headers=headers, timeout=60
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    # every session is asked for three times, through both replicas at once
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(consolidate, range(len(sessions) * 3)))
    _wait_jobs_finished(replicas, user_id)
    jobs = replicas.sql("SELECT session_id, status, attempts FROM jobs WHERE user_id = %s", user_id)
    assert {row[0] for row in jobs} == set(sessions)
    assert all(row[1] in ("done", "skipped") for row in jobs), jobs
    assert all(row[2] == 1 for row in jobs), jobs  # claimed once, never twice
    watermarks = replicas.sql(
        "SELECT session_id, last_consolidated_turn_index FROM sessions WHERE user_id = %s", user_id
    )
    assert dict(watermarks) == dict.fromkeys(sessions, 1)
    records = replicas.sql(
        "SELECT count(*), count(DISTINCT semantic_text) FROM memory_records WHERE user_id = %s",
        user_id,
    )[0]
    assert records[0] == records[1] >= len(sessions) // 2  # no fact stored twice


def test_a_record_written_through_one_is_found_through_the_other(replicas: Replicas) -> None:
    one, two = (server.base for server in replicas.servers)
    headers = _register(one, "finder")
    _append(one, headers, "trip", "I moved to Porto last spring and love the river.")
    body = {"session_id": "trip", "background": False}
    done = httpx.post(f"{one}/memory/consolidate", json=body, headers=headers, timeout=120)
    assert done.json()["status"] == "done", done.text
    query = {"query": "Where do I live now?"}
    hits = httpx.post(f"{two}/memory/search", json=query, headers=headers, timeout=60).json()
    assert any("Porto" in str(hit) for hit in hits["semantic_results"]), hits


def test_a_deleted_account_is_refused_by_the_other_replica_within_the_bound(
    replicas: Replicas,
) -> None:
    one, two = (server.base for server in replicas.servers)
    headers = _register(one, "leaver")
    # replica two caches the account now
    assert httpx.get(f"{two}/auth/me", headers=headers, timeout=60).status_code == 200
    body = {"password": "pw-123456"}
    deleted = httpx.request("DELETE", f"{one}/auth/me", json=body, headers=headers, timeout=60)
    assert deleted.status_code == 200, deleted.text
    gone_at = time.monotonic()
    assert httpx.get(f"{one}/auth/me", headers=headers, timeout=60).status_code == 401
    while httpx.get(f"{two}/auth/me", headers=headers, timeout=60).status_code != 401:
        # the documented bound, plus slack for a loaded test machine
        assert time.monotonic() - gone_at < USER_CACHE_TTL_S + 5
        time.sleep(0.1)


def test_a_job_of_a_killed_replica_is_finished_by_the_other(replicas: Replicas) -> None:
    victim = replicas.start(3, consolidate_batch_turns="2")
    survivor = replicas.servers[1]
    headers = _register(victim.base, "orphan")
    user_id = _user_id(victim.base, headers)
    texts = [f"Note {n}: my cousin number {n} works as a baker in Braga." for n in range(120)]
    for text in texts:
        _append(victim.base, headers, "long", text)
    started = httpx.post(
        f"{victim.base}/memory/consolidate",
        json={"session_id": "long"},
        headers=headers,
        timeout=60,
    ).json()
    job_id = started["job_id"]
    deadline = time.monotonic() + 120
    while (
        replicas.sql("SELECT count(*) FROM memory_records WHERE user_id = %s", user_id)[0][0] == 0
    ):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    victim.kill()
    status = replicas.sql("SELECT status FROM jobs WHERE job_id = %s", job_id)[0][0]
    assert status == "running", "the job ended before the replica was killed"
    _wait_jobs_finished(replicas, user_id, timeout_s=JOB_LEASE_S + 240)
    status, attempts = replicas.sql("SELECT status, attempts FROM jobs WHERE job_id = %s", job_id)[
        0
    ]
    assert status == "done" and attempts == 2  # the survivor took the expired lease over
    watermark = replicas.sql(
        "SELECT last_consolidated_turn_index FROM sessions"
        " WHERE user_id = %s AND session_id = 'long'",
        user_id,
    )[0][0]
    assert watermark == len(texts)
    assert len(_turns(survivor.base, headers, "long")) == len(texts)
