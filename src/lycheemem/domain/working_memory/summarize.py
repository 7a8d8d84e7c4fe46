"""Summaries of folded turns: extractive (memory-only) or one LLM call."""

from __future__ import annotations

import re
from collections.abc import Sequence

from lycheemem.domain.models import Turn
from lycheemem.domain.ports import LLM, TokenCounter

__all__ = ["extractive_summary", "llm_summary", "trim_to_tokens"]

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n+")
_SUMMARY_BLOCK = re.compile(r"<summary>(.*?)</summary>", re.DOTALL | re.IGNORECASE)
_ANALYSIS_BLOCK = re.compile(r"<analysis>.*?</analysis>", re.DOTALL | re.IGNORECASE)
OMITTED_MARK = "[... {n} earlier summary lines omitted to fit the summary budget]"

LLM_SUMMARY_PROMPT = """You compress the earlier part of a conversation into a hand-off summary \
so that the conversation can continue without the original messages.
Write Markdown with exactly these sections:
## Context
## Facts and preferences stated
## Decisions and results
## Open tasks
Keep names, numbers, dates, commands, file paths and decisions verbatim. Do not invent anything.
Put the final summary inside <summary>...</summary> tags."""


def _first_sentence(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    parts = _SENTENCE_END.split(flat, maxsplit=1)
    sentence = parts[0] if parts else flat
    if len(sentence) > limit:
        return sentence[: limit - 1].rstrip() + "…"
    if len(parts) > 1 and parts[1].strip():
        return sentence + " …"
    return sentence


def trim_to_tokens(lines: list[str], tokens: TokenCounter, max_tokens: int) -> list[str]:
    """Drop the oldest lines until the text fits ``max_tokens``, saying how many were dropped."""
    kept = list(lines)
    dropped = 0
    while kept and tokens.count("\n".join(kept)) > max_tokens:
        kept.pop(0)
        dropped += 1
    if dropped:
        marker = OMITTED_MARK.format(n=dropped)
        while kept and tokens.count("\n".join([marker, *kept])) > max_tokens:
            kept.pop(0)
            dropped += 1
            marker = OMITTED_MARK.format(n=dropped)
        kept.insert(0, marker)
    return kept


def extractive_summary(
    previous: str | None, folded: Sequence[Turn], tokens: TokenCounter, max_tokens: int
) -> str:
    """Previous summary lines, then ``role: first sentence`` per folded turn, capped in tokens."""
    lines = [line for line in (previous or "").splitlines() if line.strip()]
    for turn in folded:
        who = turn.speaker or turn.role
        lines.append(f"{who}: {_first_sentence(turn.content)}")
    return "\n".join(trim_to_tokens(lines, tokens, max_tokens))


def _clean_llm_summary(text: str) -> str:
    text = _ANALYSIS_BLOCK.sub("", text)
    match = _SUMMARY_BLOCK.search(text)
    return (match.group(1) if match else text).strip()


async def llm_summary(
    llm: LLM,
    previous: str | None,
    folded: Sequence[Turn],
    tokens: TokenCounter,
    max_tokens: int,
) -> str:
    """One LLM call that folds ``previous`` and ``folded`` into a Markdown hand-off summary."""
    transcript = "\n".join(f"{turn.speaker or turn.role}: {turn.content}" for turn in folded)
    user = f"Previous summary:\n{previous or '(none)'}\n\nConversation to fold in:\n{transcript}"
    response = await llm.complete(
        [{"role": "system", "content": LLM_SUMMARY_PROMPT}, {"role": "user", "content": user}],
        purpose="compress",
        temperature=0.0,
        max_tokens=max_tokens,
    )
    summary = _clean_llm_summary(response.text)
    if tokens.count(summary) > max_tokens:
        lines = trim_to_tokens(summary.splitlines(), tokens, max_tokens)
        summary = "\n".join(lines)
    return summary
