"""LoCoMo retrieval benchmark: hit@k / recall@k of /memory/search from returned provenance.

Each conversation is ingested through the HTTP API (one LycheeMem session per LoCoMo
session, one fresh user per conversation, each turn with ``turn_id`` = dia_id and
``created_at`` = the session time), consolidated, and then every category 1-4 question
is asked with ``/memory/search``. A hit is an evidence dia_id among the source turn refs
of the top-k results (see shared/data/locomo-dev/README.md).

    python bench/locomo.py --data DIR_OR_FILE                          # in-process app
    python bench/locomo.py --data DIR_OR_FILE --database-url postgresql://...  # on PostgreSQL
    LOCOMO_DIR=DIR python bench/locomo.py --base-url http://127.0.0.1:8000  # a running server

The data is not shipped with LycheeMem (see MISSING_DATA for where to get it). ``--data`` (or
``LOCOMO_DIR``) is a folder of one-conversation JSON files, one such file, or the public
``locomo10.json`` (a list of conversations).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
MISSING_DATA = """\
LoCoMo data not found{where}. It is not shipped with LycheeMem: the dataset is published by
snap-research (the "locomo" repository on GitHub, file data/locomo10.json, CC BY-NC 4.0, for
non-commercial evaluation). Download that file and run
    python bench/locomo.py --data path/to/locomo10.json
or set LOCOMO_DIR to it (or to a folder of one-conversation JSON files)."""


def load_conversations(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(name, conversation) pairs from a folder, a one-conversation file or ``locomo10.json``.

    A conversation is the flat shape the benchmark reads: ``speaker_a``, ``session_N``,
    ``session_N_date_time`` and ``qa`` at the top level; the public file nests all but ``qa``
    under ``conversation`` and is flattened here.
    """
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    found: list[tuple[str, dict[str, Any]]] = []
    for file in files:
        data = json.loads(file.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            found.append((file.stem, data))
            continue
        for number, item in enumerate(data):
            name = str(item.get("sample_id") or f"{file.stem}-{number}")
            found.append((name, {**item.get("conversation", {}), "qa": item.get("qa", [])}))
    return found


def data_path(given: Path | None, environ: dict[str, str]) -> Path | None:
    """``--data``, else ``LOCOMO_DIR``; None when neither names something that exists."""
    chosen = given or (Path(environ["LOCOMO_DIR"]) if environ.get("LOCOMO_DIR") else None)
    return chosen if chosen is not None and chosen.exists() else None


def parse_session_time(text: str) -> str:
    """'1:56 pm on 8 May, 2023' -> ISO-8601 UTC."""
    moment = datetime.strptime(text.strip(), "%I:%M %p on %d %B, %Y")
    return moment.strftime("%Y-%m-%dT%H:%M:00Z")


def turn_content(turn: dict[str, Any]) -> str:
    """The content the dev README prescribes: speaker prefix plus the photo caption."""
    content = f"{turn['speaker']}: {turn['text']}"
    if turn.get("blip_caption"):
        content += f" [shares a photo: {turn['blip_caption']}]"
    return content


def sessions_of(conversation: dict[str, Any]) -> Iterator[tuple[str, str, list[dict]]]:
    """(session key, ISO time, turns) in session order."""
    number = 1
    while f"session_{number}" in conversation:
        key = f"session_{number}"
        yield key, parse_session_time(conversation[f"{key}_date_time"]), conversation[key]
        number += 1


@contextmanager
def api_client(base_url: str | None, database_url: str = "") -> Iterator[Any]:
    """An HTTP client: a real server at ``base_url`` or the app in-process (ASGI), on the
    embedded store or, with ``database_url``, on PostgreSQL."""
    if base_url:
        import httpx

        with httpx.Client(base_url=base_url, timeout=600) as client:
            yield client
        return
    from fastapi.testclient import TestClient

    from lycheemem.app import create_app
    from lycheemem.config import load_settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            env_file=None,
            data_dir=Path(tmp),
            consolidate_debounce_s=0,
            llm_model="",
            database_url=database_url,
        )
        with TestClient(create_app(settings)) as client:
            yield client


def ingest(client: Any, conversation: dict[str, Any], headers: dict[str, str]) -> float:
    """Append every turn and consolidate each session; returns seconds spent."""
    started = time.perf_counter()
    for key, when, turns in sessions_of(conversation):
        for turn in turns:
            body = {
                "session_id": key,
                "role": "user",
                "content": turn_content(turn),
                "turn_id": turn["dia_id"],
                "created_at": when,
                "speaker": turn["speaker"],
                "metadata": {"speaker": turn["speaker"]},
            }
            response = client.post("/memory/append-turn", json=body, headers=headers)
            response.raise_for_status()
        result = client.post(
            "/memory/consolidate", json={"session_id": key, "background": False}, headers=headers
        )
        result.raise_for_status()
        if result.json()["status"] not in ("done", "skipped"):
            raise RuntimeError(f"consolidation of {key} ended {result.json()}")
    return time.perf_counter() - started


def returned_refs(item: dict[str, Any]) -> set[str]:
    """Client turn refs a provenance item derives from."""
    refs = set(item.get("source_turn_refs", []))
    for source in item.get("sources", []):
        refs.update(source.get("turn_refs", []))
    return refs


def evaluate(
    client: Any, qa: list[dict[str, Any]], headers: dict[str, str], k: int, reference: str
) -> list[dict[str, Any]]:
    """Ask every scored question; returns one row per question."""
    rows = []
    for question in qa:
        category = question.get("category")
        evidence = set(question.get("evidence") or [])
        if category not in CATEGORIES or not evidence:
            continue
        started = time.perf_counter()
        response = client.post(
            "/memory/search",
            headers=headers,
            json={
                "query": question["question"],
                "top_k": k,
                "include_skills": False,
                "reference_time": reference,
            },
        )
        response.raise_for_status()
        ms = (time.perf_counter() - started) * 1000
        results = response.json()["semantic_results"]
        items = results[0]["provenance"][:k] if results else []
        refs: set[str] = set()
        for item in items:
            refs |= returned_refs(item)
        rows.append(
            {
                "question": question["question"],
                "category": CATEGORIES[category],
                "hit": bool(evidence & refs),
                "recall": len(evidence & refs) / len(evidence),
                "ctx_chars": sum(len(i["semantic_text"]) for i in items) / max(1, len(items)),
                "ms": ms,
            }
        )
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean hit, recall and ctx_chars per category and overall."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row["category"]].append(row)
        groups["all"].append(row)
    table = {}
    for name, items in groups.items():
        latencies = sorted(r["ms"] for r in items)
        table[name] = {
            "questions": len(items),
            "hit": sum(r["hit"] for r in items) / len(items),
            "recall": sum(r["recall"] for r in items) / len(items),
            "ctx_chars": sum(r["ctx_chars"] for r in items) / len(items),
            "p50_ms": latencies[len(latencies) // 2],
        }
    return table


def markdown(table: dict[str, dict[str, float]], k: int) -> str:
    """The summary as a Markdown table."""
    lines = [
        f"| category | questions | hit@{k} | recall@{k} | ctx_chars | p50 ms |",
        "|---|---|---|---|---|---|",
    ]
    order = [*CATEGORIES.values(), "all"]
    for name in order:
        if name in table:
            row = table[name]
            lines.append(
                f"| {name} | {row['questions']} | {row['hit']:.3f} | {row['recall']:.3f}"
                f" | {row['ctx_chars']:.0f} | {row['p50_ms']:.1f} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=None, help="LoCoMo json file or folder (or LOCOMO_DIR)"
    )
    parser.add_argument(
        "--if-present", action="store_true", help="exit 0 with a note when the data is missing"
    )
    parser.add_argument("--base-url", default=None, help="running server (default: in-process)")
    parser.add_argument(
        "--database-url",
        default="",
        help="in-process app on this PostgreSQL database (an empty one) instead of SQLite",
    )
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--conversations", type=int, default=0, help="limit (0 = all)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    # One INFO line per request would bury the per-conversation results.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    data = data_path(args.data, dict(os.environ))
    if data is None:
        given = args.data or os.environ.get("LOCOMO_DIR")
        print(MISSING_DATA.format(where=f" at {given}" if given else ""), file=sys.stderr)
        return 0 if args.if_present else 2
    conversations = load_conversations(data)
    if args.conversations:
        conversations = conversations[: args.conversations]
    all_rows: list[dict[str, Any]] = []
    with api_client(args.base_url, args.database_url) as client:
        for name, conversation in conversations:
            user = f"locomo_{name}_{uuid.uuid4().hex[:6]}"
            token = client.post(
                "/auth/register", json={"username": user, "password": "locomo-bench-pw"}
            )
            token.raise_for_status()
            headers = {"Authorization": f"Bearer {token.json()['token']}"}
            seconds = ingest(client, conversation, headers)
            last_time = list(sessions_of(conversation))[-1][1]
            rows = evaluate(client, conversation["qa"], headers, args.top_k, last_time)
            for row in rows:
                row["conversation"] = name
            table = summarise(rows)
            print(
                f"{name}: ingest {seconds:.1f}s, hit@{args.top_k}="
                f"{table['all']['hit']:.3f} ({len(rows)} questions)",
                flush=True,
            )
            all_rows.extend(rows)
    table = summarise(all_rows)
    report = markdown(table, args.top_k)
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "locomo.json").write_text(json.dumps(table, indent=2))
    (args.out / "locomo.md").write_text(report + "\n")
    # One line per question, so two runs can be compared question by question.
    with (args.out / "locomo_rows.jsonl").open("w", encoding="utf-8") as handle:
        for row in all_rows:
            handle.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
