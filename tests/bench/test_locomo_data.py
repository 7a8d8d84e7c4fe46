"""bench/locomo.py needs no file outside the repository: data comes from --data or LOCOMO_DIR.

Without data it says where to get the public dataset (exit 2, or 0 with ``--if-present`` as
``make bench`` runs it); with the public ``locomo10.json`` layout it flattens each conversation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"

sys.path.insert(0, str(BENCH))
from locomo import data_path, load_conversations  # noqa: E402


def _turn(dia_id: str, speaker: str, text: str) -> dict[str, str]:
    return {"speaker": speaker, "dia_id": dia_id, "text": text}


def _question(question: str, answer: str, evidence: str) -> dict[str, Any]:
    return {"question": question, "answer": answer, "evidence": [evidence], "category": 4}


SESSIONS = {
    "speaker_a": "Ana",
    "speaker_b": "Ben",
    "session_1_date_time": "1:56 pm on 8 May, 2023",
    "session_1": [
        _turn("D1:1", "Ana", "I adopted a grey cat called Miso last week."),
        _turn("D1:2", "Ben", "Lovely! I am training for the Lisbon marathon."),
    ],
    "session_2_date_time": "10:00 am on 20 May, 2023",
    "session_2": [_turn("D2:1", "Ana", "Miso knocked my plants over again.")],
}
QA = [
    _question("What is the name of Ana's cat?", "Miso", "D1:1"),
    _question("Which marathon is Ben training for?", "Lisbon", "D1:2"),
]


def public_file(folder: Path) -> Path:
    """A file in the public locomo10.json layout (a list; sessions under `conversation`)."""
    path = folder / "locomo10.json"
    path.write_text(json.dumps([{"sample_id": "conv-1", "conversation": SESSIONS, "qa": QA}]))
    return path


def run_bench(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "LOCOMO_DIR"} | env
    return subprocess.run(
        [sys.executable, str(BENCH / "locomo.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=clean,
        check=False,
    )


def test_both_layouts_load_as_flat_conversations(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    conversation: dict[str, Any] = {**SESSIONS, "qa": QA}
    (flat / "26.json").write_text(json.dumps(conversation))
    assert load_conversations(flat) == [("26", conversation)]
    assert load_conversations(public_file(tmp_path)) == [("conv-1", conversation)]


def test_data_path_prefers_the_flag_then_locomo_dir(tmp_path: Path) -> None:
    assert data_path(None, {}) is None
    assert data_path(None, {"LOCOMO_DIR": str(tmp_path / "missing")}) is None
    assert data_path(None, {"LOCOMO_DIR": str(tmp_path)}) == tmp_path
    assert data_path(tmp_path / "x.json", {"LOCOMO_DIR": str(tmp_path)}) is None


def test_missing_data_explains_where_to_get_it() -> None:
    result = run_bench()
    assert result.returncode == 2
    assert "locomo10.json" in result.stderr and "LOCOMO_DIR" in result.stderr
    assert "Traceback" not in result.stderr
    assert run_bench("--if-present").returncode == 0


def test_runs_on_the_public_layout(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_bench("--out", str(out), LOCOMO_DIR=str(public_file(tmp_path)))
    assert result.returncode == 0, result.stderr
    table = json.loads((out / "locomo.json").read_text())
    assert table["all"]["questions"] == 2
