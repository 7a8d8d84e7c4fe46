"""Reflection rounds (MEMORY.md §17, ``LYCHEEMEM_REFLECTION_ROUNDS``, LLM mode only).

A round asks the model whether the selected memories are enough to act on the query. When
they are not, a second call turns the named gaps (constraints, slots, affordances, failure
knowledge) into a supplementary plan; the search recalls with it, scores every candidate again
with ``reflection_fit`` (how much of the gaps an item covers) and selects again. Each round
costs at most two calls; a failed or unusable call ends reflection with what was selected.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, Field

from lycheemem.domain.models import SearchPlan
from lycheemem.domain.ports import LLM
from lycheemem.domain.prompts import load_prompt
from lycheemem.domain.text.terms import query_terms
from lycheemem.errors import LLMError
from lycheemem.retrieval.candidates import Candidate

__all__ = ["Gaps", "LLMReflector", "reflection_fit"]

log = logging.getLogger(__name__)

MAX_GAPS = 6
MAX_QUERIES = 3
MEMORY_LINE_CHARS = 300


class _Adequacy(BaseModel):
    enough: bool = True
    missing_constraints: list[str] = Field(default_factory=list)
    missing_slots: list[str] = Field(default_factory=list)
    missing_affordances: list[str] = Field(default_factory=list)
    missing_failures: list[str] = Field(default_factory=list)


class _Supplement(BaseModel):
    semantic_queries: list[str] = Field(default_factory=list)
    pragmatic_queries: list[str] = Field(default_factory=list)
    tool_hints: list[str] = Field(default_factory=list)


def _clean(values: list[str], cap: int) -> tuple[str, ...]:
    cleaned = [" ".join(str(v).split())[:200] for v in values if str(v).strip()]
    return tuple(dict.fromkeys(cleaned))[:cap]


@dataclass(frozen=True, slots=True)
class Gaps:
    """What the model found missing from the selected memories."""

    constraints: tuple[str, ...] = ()
    slots: tuple[str, ...] = ()
    affordances: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()

    def phrases(self) -> tuple[str, ...]:
        """Every gap phrase, in kind order."""
        return (*self.constraints, *self.slots, *self.affordances, *self.failures)

    def terms(self) -> frozenset[str]:
        """The content terms of the gap phrases."""
        return frozenset(t for phrase in self.phrases() for t in query_terms(phrase))

    def as_dict(self) -> dict[str, list[str]]:
        """JSON shape for traces."""
        return {
            "constraints": list(self.constraints),
            "slots": list(self.slots),
            "affordances": list(self.affordances),
            "failures": list(self.failures),
        }


def reflection_fit(candidate: Candidate, gaps: Gaps) -> float:
    """Share of the gaps' content terms found in the candidate's indexed text and tags."""
    wanted = gaps.terms()
    if not wanted:
        return 0.0
    present = set(query_terms(f"{candidate.fts_text} {candidate.fts_tags}"))
    return len(wanted & present) / len(wanted)


def _memory_lines(provenance: list[dict[str, Any]]) -> str:
    lines = [
        f"- [{p.get('memory_type', '')}] {str(p.get('semantic_text', ''))[:MEMORY_LINE_CHARS]}"
        for p in provenance
    ]
    return "\n".join(lines) or "(none)"


class LLMReflector:
    """Runs the adequacy check and the supplementary plan for up to ``rounds`` rounds."""

    def __init__(self, *, llm: LLM, rounds: int) -> None:
        self._llm = llm
        self.rounds = rounds
        self.fallbacks = 0

    async def assess(
        self, query: str, plan: SearchPlan, provenance: list[dict[str, Any]]
    ) -> Gaps | None:
        """The gaps of the selected memories, or None when they are enough (or on failure)."""
        user = (
            f"MODE: {plan.mode}\n\nQUERY:\n{query}\n\n"
            f"SELECTED MEMORIES:\n{_memory_lines(provenance)}"
        )
        output = await self._ask("reflect_check", user, _Adequacy, "reflect")
        if output is None or output.enough:
            return None
        gaps = Gaps(
            constraints=_clean(output.missing_constraints, MAX_GAPS),
            slots=_clean(output.missing_slots, MAX_GAPS),
            affordances=_clean(output.missing_affordances, MAX_GAPS),
            failures=_clean(output.missing_failures, MAX_GAPS),
        )
        return gaps if gaps.phrases() else None

    async def supplement(self, query: str, plan: SearchPlan, gaps: Gaps) -> SearchPlan | None:
        """A plan that searches for the gaps (None when the call fails)."""
        user = f"QUERY:\n{query}\n\nMISSING:\n{json.dumps(gaps.as_dict(), ensure_ascii=False)}"
        output = await self._ask("reflect_plan", user, _Supplement, "reflect_plan")
        if output is None:
            return None
        semantic = _clean(output.semantic_queries, MAX_QUERIES) or gaps.phrases()[:MAX_QUERIES]
        return replace(
            plan,
            semantic_queries=list(semantic),
            pragmatic_queries=list(_clean(output.pragmatic_queries, MAX_QUERIES)),
            tool_hints=list(_clean([*plan.tool_hints, *output.tool_hints], 8)),
            required_constraints=list(_clean([*plan.required_constraints, *gaps.constraints], 8)),
            required_affordances=list(_clean([*plan.required_affordances, *gaps.affordances], 8)),
            missing_slots=list(_clean([*plan.missing_slots, *gaps.slots], 8)),
            temporal_filter=None,
        )

    async def _ask(
        self, prompt: str, user: str, schema: type[BaseModel], purpose: str
    ) -> Any | None:
        messages = [
            {"role": "system", "content": load_prompt(prompt)},
            {"role": "user", "content": user},
        ]
        try:
            output, _ = await self._llm.complete_json(messages, schema, purpose=purpose)
        except LLMError as exc:
            self.fallbacks += 1
            log.warning("reflection call failed, keeping the selection: %s", exc.message)
            return None
        return output
