"""Practical agent scenarios: does memory-only search put the key fact in the top 3?

Each ``*.json`` file next to this script is one conversation between a user and an
assistant over several sessions (work, home, travel), with corrections and follow-ups,
and questions naming the words a right answer's memory must contain (``expect``) and,
for corrected facts, the outdated words (``stale``). Every session is appended through
the HTTP API and consolidated; every question is asked with ``/memory/search``.

- key fact in top 3: one of the first three memories contains every ``expect`` string;
- corrected fact first: for questions with ``stale``, the first memory that speaks of the
  fact (holds its current or its outdated words) holds every ``expect`` string and no
  ``stale`` one, and it is among the first three;
- stale in top 10: corrected questions whose outdated words still appear in any of the
  ten returned memories.

    python bench/scenarios/run.py                  # in-process app, memory-only mode
    python bench/scenarios/run.py --verbose        # print the top 3 of every question
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "src"))

TOP_K = 10


def load_scenarios(folder: Path = HERE) -> list[dict[str, Any]]:
    """Every scenario of ``folder``, by file name."""
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]


def _turn_times(start: str, count: int) -> Iterator[str]:
    """One minute apart from the session's start, in the API's ISO form."""
    moment = datetime.fromisoformat(start.replace("Z", "+00:00"))
    for n in range(count):
        yield (moment + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ")


def ingest(client: Any, scenario: dict[str, Any]) -> dict[str, str]:
    """Register the scenario's user, append and consolidate every session; returns headers."""
    user = scenario["user"]
    body = {"username": user["username"], "password": "scenario-password-1"}
    if user.get("display_name"):
        body["display_name"] = user["display_name"]
    response = client.post("/auth/register", json=body)
    response.raise_for_status()
    headers = {"Authorization": f"Bearer {response.json()['token']}"}
    for session in scenario["sessions"]:
        times = _turn_times(session["created_at"], len(session["turns"]))
        for (role, content), when in zip(session["turns"], times, strict=True):
            turn = {
                "session_id": session["session_id"],
                "role": role,
                "content": content,
                "created_at": when,
            }
            client.post("/memory/append-turn", json=turn, headers=headers).raise_for_status()
        done = client.post(
            "/memory/consolidate",
            json={"session_id": session["session_id"], "background": False},
            headers=headers,
        )
        done.raise_for_status()
    return headers


def _contains(text: str, words: list[str]) -> bool:
    low = text.casefold()
    return all(word.casefold() in low for word in words)


def _mentions_any(text: str, words: list[str]) -> bool:
    low = text.casefold()
    return any(word.casefold() in low for word in words)


def corrected_first(texts: list[str], expect: list[str], stale: list[str]) -> bool:
    """Whether the first memory that speaks of the fact (its current or its outdated value)
    states the current value, and does so within the top 3."""
    for position, text in enumerate(texts):
        if _contains(text, expect) or _mentions_any(text, stale):
            return position < 3 and _contains(text, expect) and not _mentions_any(text, stale)
    return False


def evaluate(client: Any, scenario: dict[str, Any], headers: dict[str, str]) -> list[dict]:
    """One row per question: top-3 hit, corrected-first (when stale words are given)."""
    reference = scenario["sessions"][-1]["created_at"]
    rows = []
    for question in scenario["questions"]:
        response = client.post(
            "/memory/search",
            headers=headers,
            json={
                "query": question["q"],
                "top_k": TOP_K,
                "include_skills": False,
                "reference_time": reference,
            },
        )
        response.raise_for_status()
        results = response.json()["semantic_results"]
        texts = [item["semantic_text"] for item in (results[0]["provenance"] if results else [])]
        expect, stale = question["expect"], question.get("stale", [])
        row: dict[str, Any] = {
            "scenario": scenario["name"],
            "question": question["q"],
            "top3": texts[:3],
            "key_fact_top3": any(_contains(text, expect) for text in texts[:3]),
            "ctx_chars_top3": sum(len(text) for text in texts[:3]),
        }
        if stale:
            row["corrected_first"] = corrected_first(texts, expect, stale)
            row["stale_in_top10"] = any(_mentions_any(text, stale) for text in texts)
        rows.append(row)
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per scenario and overall: questions, key-fact top-3 share, corrected-first share."""
    table: dict[str, dict[str, float]] = {}
    names = sorted({row["scenario"] for row in rows}) + ["all"]
    for name in names:
        mine = [r for r in rows if name in ("all", r["scenario"])]
        corrected = [r for r in mine if "corrected_first" in r]
        table[name] = {
            "questions": len(mine),
            "key_fact_top3": sum(r["key_fact_top3"] for r in mine) / len(mine),
            "corrections": len(corrected),
            "corrected_first": (
                sum(r["corrected_first"] for r in corrected) / len(corrected) if corrected else 1.0
            ),
            "stale_in_top10": sum(r["stale_in_top10"] for r in corrected),
            "ctx_chars_top3": sum(r["ctx_chars_top3"] for r in mine) / len(mine),
        }
    return table


def markdown(table: dict[str, dict[str, float]]) -> str:
    """The summary as a Markdown table."""
    lines = [
        "| scenario | questions | key fact in top 3 | corrections | corrected fact first "
        "| stale in top 10 | top-3 chars |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in table.items():
        lines.append(
            f"| {name} | {row['questions']} | {row['key_fact_top3']:.3f} | {row['corrections']}"
            f" | {row['corrected_first']:.3f} | {row['stale_in_top10']}"
            f" | {row['ctx_chars_top3']:.0f} |"
        )
    return "\n".join(lines)


@contextmanager
def app_client() -> Iterator[Any]:
    """The app in-process (ASGI), memory-only, on a temporary data directory."""
    from fastapi.testclient import TestClient

    from lycheemem.app import create_app
    from lycheemem.config import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            env_file=None, data_dir=Path(tmp), consolidate_debounce_s=0, llm_model=""
        )
        with TestClient(create_app(settings)) as client:
            yield client


def run_all(client: Any, scenarios: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ingest and evaluate every scenario; one row per question."""
    rows: list[dict[str, Any]] = []
    for scenario in scenarios:
        headers = ingest(client, scenario)
        rows.extend(evaluate(client, scenario, headers))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--verbose", action="store_true", help="print every question's top 3")
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with app_client() as client:
        rows = run_all(client, load_scenarios())
    if args.verbose:
        for row in rows:
            mark = "ok " if row["key_fact_top3"] else "MISS"
            if row.get("corrected_first") is False:
                mark += " (stale first)"
            print(f"{mark} [{row['scenario']}] {row['question']}")
            for text in row["top3"]:
                print(f"      {text[:150]}")
    table = summarise(rows)
    report = markdown(table)
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scenarios.json").write_text(json.dumps(table, indent=2))
    (args.out / "scenarios.md").write_text(report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
