"""The LLM planner (MEMORY.md §7.3) and its HyDE skill draft (§15).

The heuristic plan always exists first; the LLM refines it only when the
policy says so (``LYCHEEMEM_PLANNER``). Whatever the model returns is
validated: unknown enums keep the heuristic value, a failed or unparsable
call keeps the heuristic plan. The HyDE draft (``hypothetical_skill``) comes
in the same call, so skill retrieval by HyDE costs no extra LLM call.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from lycheemem.clock import format_ts, parse_ts
from lycheemem.domain.models import ActionState, SearchPlan
from lycheemem.domain.ports import LLM
from lycheemem.domain.prompts import load_prompt
from lycheemem.errors import LLMError
from lycheemem.retrieval.planner.heuristic import merge_action_state

__all__ = ["LLMPlanner", "PlannerOutput", "needs_llm_planner"]

log = logging.getLogger(__name__)

LONG_QUERY_CHARS = 300
MAX_QUERIES = 4
MAX_LIST = 8
HYDE_CHARS = 1500
MODES = ("answer", "action", "mixed")
TREE_MODES = ("root_only", "balanced", "descend")
_QUESTION_MARK = re.compile(r"[?？]")


class _Window(BaseModel):
    since: str | None = None
    until: str | None = None


class PlannerOutput(BaseModel):
    """The planner's JSON answer; every field is optional and validated afterwards."""

    mode: str | None = None
    semantic_queries: list[str] = Field(default_factory=list)
    pragmatic_queries: list[str] = Field(default_factory=list)
    temporal_filter: _Window | None = None
    tool_hints: list[str] = Field(default_factory=list)
    required_constraints: list[str] = Field(default_factory=list)
    required_affordances: list[str] = Field(default_factory=list)
    missing_slots: list[str] = Field(default_factory=list)
    tree_retrieval_mode: str | None = None
    tree_expansion_depth: int | None = None
    include_leaf_records: bool | None = None
    depth: int | None = None
    hypothetical_skill: str = ""
    reasoning: str = ""


def needs_llm_planner(policy: str, query: str, heuristic: SearchPlan) -> bool:
    """Whether the policy calls the LLM for this query (``auto``: action/mixed, long or
    multi-question queries only)."""
    if policy == "llm":
        return True
    if policy != "auto":
        return False
    if heuristic.mode in ("action", "mixed") or len(query) > LONG_QUERY_CHARS:
        return True
    return len(_QUESTION_MARK.findall(query)) >= 2


def _strings(values: list[str], cap: int = MAX_LIST) -> list[str]:
    cleaned = [" ".join(str(v).split())[:200] for v in values if str(v).strip()]
    return list(dict.fromkeys(cleaned))[:cap]


def _window(output: PlannerOutput, fallback: dict[str, str] | None) -> dict[str, str] | None:
    window = output.temporal_filter
    if window is None or not (window.since or window.until):
        return fallback
    try:
        since = format_ts(parse_ts(window.since)) if window.since else None
        until = format_ts(parse_ts(window.until)) if window.until else None
    except ValueError:
        return fallback
    if since and until and since > until:
        return fallback
    return {
        "since": since or "0001-01-01T00:00:00.000Z",
        "until": until or "9999-12-31T23:59:59.999Z",
    }


def plan_from_output(
    output: PlannerOutput, heuristic: SearchPlan, state: ActionState, query: str
) -> SearchPlan:
    """Validate the model's plan against the heuristic one and merge the ActionState (§7.4)."""
    mode = output.mode if output.mode in MODES else heuristic.mode
    tree = (
        output.tree_retrieval_mode
        if output.tree_retrieval_mode in TREE_MODES
        else heuristic.tree_retrieval_mode
    )
    depth = output.tree_expansion_depth
    plan = replace(
        heuristic,
        mode=mode,
        semantic_queries=_strings([query, *output.semantic_queries], MAX_QUERIES),
        pragmatic_queries=_strings(output.pragmatic_queries, MAX_QUERIES)
        if mode != "answer"
        else [],
        temporal_filter=_window(output, heuristic.temporal_filter),
        tool_hints=_strings([*heuristic.tool_hints, *output.tool_hints]),
        required_constraints=_strings(
            [*heuristic.required_constraints, *output.required_constraints]
        ),
        required_affordances=_strings(
            [*heuristic.required_affordances, *output.required_affordances]
        ),
        missing_slots=_strings([*heuristic.missing_slots, *output.missing_slots]),
        tree_retrieval_mode=tree,
        tree_expansion_depth=depth
        if depth is not None and 0 <= depth <= 3
        else (heuristic.tree_expansion_depth),
        include_leaf_records=(
            output.include_leaf_records
            if output.include_leaf_records is not None
            else heuristic.include_leaf_records
        ),
        reasoning=" ".join(output.reasoning.split())[:300] or "llm plan",
        planner="llm",
        hypothetical_skill=output.hypothetical_skill.strip()[:HYDE_CHARS]
        if mode != "answer"
        else "",
    )
    return merge_action_state(plan, state, query=query)


class LLMPlanner:
    """Refines heuristic plans with one LLM call when the policy asks for it."""

    def __init__(self, *, llm: LLM, policy: str = "auto") -> None:
        self._llm = llm
        self.policy = policy
        self.fallbacks = 0

    def wants(self, query: str, heuristic: SearchPlan) -> bool:
        """Whether ``refine`` would call the LLM for this query."""
        return needs_llm_planner(self.policy, query, heuristic)

    async def refine(
        self,
        *,
        query: str,
        plan: SearchPlan,
        state: ActionState,
        recent_context: str,
        reference: datetime,
    ) -> SearchPlan:
        """The LLM plan, or ``plan`` unchanged when not wanted or when the call fails."""
        if not self.wants(query, plan):
            return plan
        messages = [
            {"role": "system", "content": load_prompt("planner")},
            {
                "role": "user",
                "content": self._prompt(query, plan, state, recent_context, reference),
            },
        ]
        try:
            output, _ = await self._llm.complete_json(messages, PlannerOutput, purpose="plan")
        except LLMError as exc:
            self.fallbacks += 1
            log.warning("LLM planner failed, keeping the heuristic plan: %s", exc.message)
            return plan
        return plan_from_output(output, plan, state, query)

    def _prompt(
        self,
        query: str,
        plan: SearchPlan,
        state: ActionState,
        recent_context: str,
        reference: datetime,
    ) -> str:
        action: dict[str, Any] = asdict(state)
        action.pop("recent_context_excerpt", None)
        return (
            f"CURRENT DATE/TIME (UTC): {format_ts(reference)}\n\n"
            f"RECENT CONVERSATION:\n{recent_context[-2000:] or '(none)'}\n\n"
            f"ACTION STATE:\n{json.dumps(action, ensure_ascii=False)}\n\n"
            f"HEURISTIC MODE: {plan.mode}\n\nQUERY:\n{query}"
        )
