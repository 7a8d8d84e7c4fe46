"""LLM cost report: calls and tokens per chat turn, per consolidation, per LoCoMo conversation.

Runs the real pipeline in-process with a counting scripted LLM (no network, no model):
prompt tokens are counted with tiktoken ``cl100k_base`` on the exact messages LycheeMem
sends; completion tokens are counted on the scripted replies, which stand in for a real
model's output. The extraction stand-in is ``heuristic`` (the records the memory-only
encoder extracts from the batch, in the ``ExtractionResult`` shape) or ``echo`` (every
user turn as one record); fusion replies are minimal. The LoCoMo table always reports both
stand-ins. Writes the figures to ``bench/LLM_BUDGET.md``.

    python bench/llm_budget.py [--locomo PATH] [--stand-in heuristic|echo]

``--locomo`` (default: ``LOCOMO_DIR``) is a LoCoMo file or folder; its first conversation is
measured. Without LoCoMo data the chat and consolidation sections are printed, the committed
report is left as it is, and a note says where to get the dataset.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from locomo import (  # noqa: E402
    MISSING_DATA,
    data_path,
    load_conversations,
    sessions_of,
    turn_content,
)

from lycheemem.bootstrap import AppContext, build_context  # noqa: E402
from lycheemem.clock import parse_ts  # noqa: E402
from lycheemem.config import Settings  # noqa: E402
from lycheemem.consolidation.merging import LLM_RELATED_MIN_SIMILARITY  # noqa: E402
from lycheemem.domain.ports import ChatMessage, LLMUsage  # noqa: E402
from lycheemem.providers.tokens import build_token_counter  # noqa: E402
from lycheemem.testing import (  # noqa: E402
    ScriptedLLM,
    echo_extraction,
    heuristic_extraction,
    make_test_settings,
    purpose_script,
)

OUTPUT = ROOT / "bench" / "LLM_BUDGET.md"
DEFAULT_BATCH_TURNS = Settings.model_fields["consolidate_batch_turns"].default
DEFAULT_BATCH_CHARS = Settings.model_fields["consolidate_batch_chars"].default
ANSWER_PATH = ("plan", "judge", "reason", "compress")
CONSOLIDATION = ("extract", "fuse")

CONVERSATION = [
    "Hi! I'm Dana, I run the platform team at a small fintech.",
    "Our billing api runs on Kubernetes and we deploy it with Helm.",
    "How do I deploy the billing api to the staging namespace?",
    "That worked, thanks. Production deploys must happen after the database migration.",
    "What do I need to check before a production deploy?",
    "I prefer short answers with the exact commands.",
    "Last Friday the nightly pg_dump backup failed with a permissions error.",
    "How do I back up the Postgres database to S3 every night?",
    "Which team do I run?",
    "Summarize what you know about our deployment process.",
]
PLAN_REPLY = {
    "mode": "action",
    "semantic_queries": ["deployment of the billing api"],
    "pragmatic_queries": ["helm upgrade billing api"],
    "hypothetical_skill": "1. helm repo update\n2. helm upgrade --install billing ./chart "
    "-n <namespace>\n3. kubectl rollout status deploy/billing -n <namespace>",
    "reasoning": "the user wants to run a deployment",
}


class CountingLLM(ScriptedLLM):
    """A scripted LLM that counts tokens with the real tokenizer."""

    def __init__(self, script: Any) -> None:
        super().__init__(script)
        self.tokens = build_token_counter()

    def _usage(self, messages: Sequence[ChatMessage], purpose: str, text: str) -> LLMUsage:
        usage = LLMUsage(
            purpose=purpose,
            model=self.model,
            input_tokens=sum(self.tokens.count(m["content"]) + 4 for m in messages),
            output_tokens=self.tokens.count(text),
        )
        self._record(usage)
        return usage


@dataclass
class Tally:
    """Calls and tokens of a set of LLM calls."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    purposes: dict[str, int] = field(default_factory=dict)

    def add(self, usage: LLMUsage) -> None:
        self.calls += 1
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self.purposes[usage.purpose] = self.purposes.get(usage.purpose, 0) + 1


def tally(usages: Sequence[LLMUsage], purposes: Sequence[str]) -> Tally:
    """The calls of ``usages`` whose purpose is in ``purposes``."""
    total = Tally()
    for usage in usages:
        if usage.purpose in purposes:
            total.add(usage)
    return total


def _reason(messages: Sequence[ChatMessage]) -> str:
    return "Here is what I found in memory [1]: use the documented steps and commands."


STAND_INS = {"heuristic": heuristic_extraction, "echo": echo_extraction}


def make_llm(stand_in: str = "heuristic") -> CountingLLM:
    """The counting LLM with a reply for every purpose the pipeline uses."""
    return CountingLLM(
        purpose_script(
            {
                "plan": PLAN_REPLY,
                "reason": _reason,
                "extract": STAND_INS[stand_in],
                "fuse": {"decisions": [], "composites": []},
                "compress": "<summary>## Context\nEarlier conversation.</summary>",
            }
        )
    )


async def open_app(tmp: Path, llm: CountingLLM, **overrides: Any) -> AppContext:
    """An opened in-process app with the counting LLM and the default (wordllama) embedder."""
    settings = make_test_settings(tmp, llm_model="scripted/counting", **overrides)
    ctx = build_context(settings, llm=llm)
    await ctx.open()
    return ctx


async def chat_budget(
    tmp: Path, *, consolidate_each_turn: bool, stand_in: str = "heuristic"
) -> dict[str, Any]:
    """Per-turn answer-path calls; consolidation per turn (debounce 0) or once at the end."""
    llm = make_llm(stand_in)
    ctx = await open_app(tmp, llm, auto_consolidate=False)
    turns: list[dict[str, Any]] = []
    consolidation = Tally()
    try:
        for message in CONVERSATION:
            start = len(llm.usage_log)
            result = await ctx.service.chat(user_id="", session_id="bench", message=message)
            answer = tally(llm.usage_log[start:], ANSWER_PATH)
            turns.append(
                {
                    "message": message,
                    "mode": result["trace"]["search_coordinator"]["search_mode"],
                    "calls": answer.calls,
                    "purposes": answer.purposes,
                    "input_tokens": answer.input_tokens,
                    "output_tokens": answer.output_tokens,
                }
            )
            if consolidate_each_turn:
                mark = len(llm.usage_log)
                await ctx.service.consolidate(user_id="", session_id="bench", background=False)
                for usage in llm.usage_log[mark:]:
                    consolidation.add(usage)
        if not consolidate_each_turn:
            mark = len(llm.usage_log)
            await ctx.service.consolidate(user_id="", session_id="bench", background=False)
            for usage in llm.usage_log[mark:]:
                consolidation.add(usage)
    finally:
        await ctx.close()
    return {"turns": turns, "consolidation": consolidation}


def _extracted_records(llm: CountingLLM) -> int:
    return sum(
        len(json.loads(call.reply).get("records", []))
        for call in llm.calls
        if call.purpose == "extract"
    )


def _system_tokens(llm: CountingLLM, purpose: str) -> int:
    """Tokens of the fixed system message (instructions + schema hint) of one call."""
    for call in llm.calls:
        if call.purpose == purpose:
            return llm.tokens.count(call.messages[0]["content"])
    return 0


async def locomo_budget(
    tmp: Path, path: Path, batch_turns: int = DEFAULT_BATCH_TURNS, stand_in: str = "heuristic"
) -> dict[str, Any]:
    """Construction cost of one LoCoMo conversation: every turn appended and consolidated."""
    conversation = load_conversations(path)[0][1]
    llm = make_llm(stand_in)
    ctx = await open_app(tmp, llm, auto_consolidate=False, consolidate_batch_turns=batch_turns)
    turn_count = 0
    try:
        for key, when, turns in sessions_of(conversation):
            moment: datetime = parse_ts(when)
            for turn in turns:
                await ctx.service.append_turn(
                    user_id="locomo",
                    session_id=key,
                    role="user",
                    content=turn_content(turn),
                    turn_id=turn["dia_id"],
                    created_at=moment,
                    speaker=turn["speaker"],
                )
                turn_count += 1
            await ctx.service.consolidate(user_id="locomo", session_id=key, background=False)
    finally:
        await ctx.close()
    sessions = sum(1 for _ in sessions_of(conversation))
    return {
        "turns": turn_count,
        "sessions": sessions,
        "batch_turns": batch_turns,
        "stand_in": stand_in,
        "records": _extracted_records(llm),
        "fixed": {p: _system_tokens(llm, p) for p in CONSOLIDATION},
        "tally": tally(llm.usage_log, CONSOLIDATION),
    }


def _row(cells: Sequence[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def render(
    per_turn: dict, batched: dict, locomo: list[dict], locomo_path: Path | None, stand_in: str
) -> str:
    """The Markdown report."""
    turns = per_turn["turns"]
    answer_calls = [t["calls"] for t in turns]
    n = len(turns)
    lines = [
        "# LLM budget",
        "",
        "Generated by `python bench/llm_budget.py` (counting scripted LLM; prompt tokens are",
        "exact tiktoken `cl100k_base` counts of the messages LycheeMem sends, completion tokens",
        "are counted on scripted stand-in replies). Settings: defaults (`LYCHEEMEM_PLANNER=auto`,",
        f"`LYCHEEMEM_SYNTH_JUDGE=threshold`, batches of {DEFAULT_BATCH_TURNS} turns / "
        f"{DEFAULT_BATCH_CHARS} chars). Extraction",
        f"stand-in of the chat sections: `{stand_in}`; the LoCoMo section reports both.",
        "",
        f"## Answer path per `/chat` turn ({n}-turn scripted conversation)",
        "",
        _row(["#", "message", "mode", "LLM calls", "purposes", "prompt tok", "completion tok"]),
        _row(["---"] * 7),
    ]
    for number, t in enumerate(turns, start=1):
        purposes = ", ".join(f"{k}×{v}" for k, v in t["purposes"].items())
        lines.append(
            _row(
                [
                    number,
                    t["message"][:60],
                    t["mode"],
                    t["calls"],
                    purposes,
                    t["input_tokens"],
                    t["output_tokens"],
                ]
            )
        )
    mean_in = sum(t["input_tokens"] for t in turns) / n
    mean_out = sum(t["output_tokens"] for t in turns) / n
    lines += [
        "",
        f"- max calls on the answer path: **{max(answer_calls)}** (target ≤ 2); "
        f"mean {sum(answer_calls) / n:.2f}",
        f"- mean tokens per turn: {mean_in:.0f} prompt + {mean_out:.0f} completion",
        "",
        "## Consolidation",
        "",
        _row(["schedule", "jobs", "LLM calls", "calls / turn", "prompt tok", "completion tok"]),
        _row(["---"] * 6),
    ]
    for label, data, jobs in (
        ("one job per turn (debounce 0, worst case)", per_turn, n),
        ("one job for the conversation (debounced)", batched, 1),
    ):
        c: Tally = data["consolidation"]
        lines.append(
            _row([label, jobs, c.calls, f"{c.calls / n:.2f}", c.input_tokens, c.output_tokens])
        )
    lines += [
        "",
        "Each chat turn adds two turns (user + assistant) to the session; a job consumes every "
        "turn after the watermark in batches, with 1 extraction call per batch plus 1 fusion call "
        "only when a new record has a close existing neighbour.",
        "",
    ]
    return "\n".join(lines + (_render_locomo(locomo, locomo_path) if locomo else []))


def _render_locomo(locomo: list[dict], locomo_path: Path | None) -> list[str]:
    """The LoCoMo construction section: one row per stand-in and batch size."""
    first = locomo[0]
    lines = [
        f"## Construction of one LoCoMo conversation (`{locomo_path.name}`)",
        "",
        f"{first['turns']} turns in {first['sessions']} sessions, one consolidation per session.",
        "",
        _row(
            [
                "stand-in",
                "batch turns",
                "LLM calls",
                "purposes",
                "records extracted",
                "prompt tok",
                "completion tok",
                "total",
            ]
        ),
        _row(["---"] * 8),
    ]
    for run in locomo:
        t: Tally = run["tally"]
        purposes = ", ".join(f"{k}×{v}" for k, v in t.purposes.items())
        total = t.input_tokens + t.output_tokens
        lines.append(
            _row(
                [
                    f"`{run['stand_in']}`",
                    run["batch_turns"],
                    t.calls,
                    purposes,
                    run["records"],
                    t.input_tokens,
                    t.output_tokens,
                    f"**{total}**" if run["batch_turns"] == DEFAULT_BATCH_TURNS else total,
                ]
            )
        )
    fixed = first["fixed"]
    lines += [
        "",
        "Target: ≤ 100 000 tokens per conversation. The completion tokens (and the new-record",
        "part of each fusion prompt) depend on the stand-in reply; neither stand-in is a real",
        "model, together they show the range:",
        "",
        "- `heuristic`: the scripted extractor answers with what the deterministic memory-only",
        "  encoder (`heuristic_encoder.encode_turns`) extracts from the batch turns, serialised in",
        "  the `ExtractionResult` JSON shape (empty lists and nulls left out, as the prompt asks).",
        "  That encoder keeps information-bearing sentences and drops chit-chat/questions, so it",
        "  is a reasonable proxy of an extractor's output size. On LoCoMo it still keeps about two",
        "  sentence-level records per turn (each with a lower-cased `normalized_text` copy and",
        "  often a `(replying to …)` suffix), more than an extractor that merges a turn's facts",
        "  would write, so its completion side is on the high side.",
        "- `echo`: every turn becomes one record that repeats the whole turn twice (semantic +",
        "  normalized text): fewer, longer records and fewer fusion calls.",
        "",
        f"The fixed part is {fixed['extract']} prompt+schema tokens per extraction call and "
        f"{fixed['fuse']} per fusion call. Fusion sees at most 3 close neighbours (cosine ≥ "
        f"{LLM_RELATED_MIN_SIMILARITY}) per new record and 16 in all; it is sent only the new "
        "records that have such a neighbour and is skipped when none has one. Batch size 12 was "
        "the default until the batch-size decision in docs/DECISIONS.md.",
        "",
    ]
    return lines


async def main_async(locomo_path: Path | None, stand_in: str = "heuristic") -> str:
    """Run the measurements and render the report (without LoCoMo when the path is None)."""
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        per_turn = await chat_budget(Path(a), consolidate_each_turn=True, stand_in=stand_in)
        batched = await chat_budget(Path(b), consolidate_each_turn=False, stand_in=stand_in)
    locomo: list[dict[str, Any]] = []
    others = [s for s in STAND_INS if s != stand_in]
    for reply in (stand_in, *others) if locomo_path else ():
        for batch_turns in (DEFAULT_BATCH_TURNS, 12):
            with tempfile.TemporaryDirectory() as c:
                locomo.append(await locomo_budget(Path(c), locomo_path, batch_turns, reply))
    return render(per_turn, batched, locomo, locomo_path, stand_in)


def main() -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--locomo", type=Path, default=None, help="LoCoMo data (or LOCOMO_DIR)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--stand-in", choices=sorted(STAND_INS), default="heuristic")
    args = parser.parse_args()
    locomo_path = data_path(args.locomo, dict(os.environ))
    report = asyncio.run(main_async(locomo_path, args.stand_in))
    print(report)
    if locomo_path is None:
        print(MISSING_DATA.format(where=""), file=sys.stderr)
        print(f"{args.output} left unchanged (it needs the LoCoMo section)", file=sys.stderr)
        return
    args.output.write_text(report)


if __name__ == "__main__":
    main()
