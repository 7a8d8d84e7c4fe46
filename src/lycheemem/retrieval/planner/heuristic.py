"""Deterministic ActionState derivation and heuristic search planning (MEMORY.md §7).

:func:`derive_action_state` reads the query and recent context; :func:`heuristic_plan`
builds a :class:`SearchPlan` and merges the ActionState into it (§7.4). The merge is also
exposed as :func:`merge_action_state` so an LLM-produced plan can reuse it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from lycheemem.domain.models import ActionState, SearchPlan, Turn
from lycheemem.domain.text import cues
from lycheemem.domain.text.dates import parse_query_window
from lycheemem.domain.text.terms import query_terms

__all__ = [
    "derive_action_state",
    "heuristic_plan",
    "merge_action_state",
    "plan_mode",
]

_LIST_CAP = 8
_MAX_CONSTRAINTS = 6
_CONSTRAINT_CHARS = 120
_FAILURE_CHARS = 160
_TOOL_RESULT_CHARS = 500
_EXCERPT_CHARS = 1000
_LONG_QUERY = 200
_FRAGMENT_SPLIT = re.compile(r"(?<=[.!?;。！？；])\s*|\n+")


def _dedupe(items: Iterable[str], cap: int = _LIST_CAP) -> list[str]:
    """De-duplicate case-insensitively (first spelling wins), drop blanks, cap the length."""
    seen: dict[str, str] = {}
    for item in items:
        text = item.strip()
        if text and text.casefold() not in seen:
            seen[text.casefold()] = text
    return list(seen.values())[:cap]


def _fragments(text: str) -> list[str]:
    return [f.strip() for f in _FRAGMENT_SPLIT.split(text) if f and f.strip()]


def _last_tool(turns: Sequence[Turn]) -> tuple[str, str]:
    """Return the newest tool name and result found in turn metadata."""
    name, result = "", ""
    for turn in reversed(turns):
        meta = turn.metadata or {}
        if not name and meta.get("tool_name"):
            name = str(meta["tool_name"])
        if not result and meta.get("tool_result") is not None:
            result = str(meta["tool_result"])[:_TOOL_RESULT_CHARS]
        if name and result:
            break
    return name, result


def _last_user_content(turns: Sequence[Turn]) -> str:
    for turn in reversed(turns):
        if turn.role == "user":
            return turn.content or ""
    return ""


def _context_text(recent_turns: Sequence[Turn], recent_context: str) -> str:
    if recent_context.strip():
        return recent_context
    return "\n".join(f"{t.role}: {t.content}" for t in recent_turns)


def derive_action_state(
    query: str,
    recent_turns: Sequence[Turn],
    recent_context: str,
    token_budget: int,
    extra_tools: Sequence[str] = (),
) -> ActionState:
    """Derive the ActionState of §7.1 from the query and recent conversation.

    Deterministic and LLM-free. ``recent_context`` is the rendered summary + recent turns
    (the turns' own text is used when it is empty). Lists are de-duplicated and capped as
    the spec says; ``token_budget`` is copied through.
    """
    context = _context_text(recent_turns, recent_context)
    last_user = _last_user_content(recent_turns)
    verb = cues.detect_action_verb(query) or cues.detect_action_verb(last_user)
    tool_name, tool_result = _last_tool(recent_turns)
    fragments = _fragments(query) + _fragments(context)
    constraints = [f[:_CONSTRAINT_CHARS] for f in fragments if cues.constraint_cue(f)]
    failure = next((f for f in fragments if cues.failure_cue(f)), "")
    meta_tools = [tool_name] if tool_name else []
    tools = cues.find_tools(query + "\n" + context, extra_tools) + meta_tools
    return ActionState(
        current_subgoal=query,
        tentative_action=query if verb else "",
        last_tool_name=tool_name,
        last_tool_result=tool_result,
        missing_slots=cues.missing_slots(verb, query + "\n" + context),
        known_constraints=_dedupe(constraints, _MAX_CONSTRAINTS),
        available_tools=_dedupe(tools),
        failure_signal=failure[:_FAILURE_CHARS],
        token_budget=token_budget,
        recent_context_excerpt=context[:_EXCERPT_CHARS],
    )


def plan_mode(query: str) -> str:
    """``mixed`` for a wh-question with an action cue, ``action`` for an action cue alone,
    else ``answer`` (§16.4)."""
    if not cues.has_action_cue(query):
        return "answer"
    return "mixed" if cues.has_question_cue(query) else "action"


def _key_clauses(query: str, limit: int = 2) -> list[str]:
    """For long queries, the clauses with the most content terms (original order kept)."""
    clauses = [c for c in re.split(r"(?<=[.!?;。！？；,，])\s*|\n+", query) if c and c.strip()]
    if len(clauses) < 2:
        return []
    ranked = sorted(clauses, key=lambda c: len(query_terms(c)), reverse=True)[:limit]
    return [c.strip() for c in clauses if c in ranked]


_SPECULATIVE = re.compile(
    r"\b(?:would|might|likely|probably|could|may)\b|\bconsidered\b|\bbe\s+interested\b",
    re.IGNORECASE,
)
_HEDGES = re.compile(
    r"\b(?:would|might|likely|probably|could|may|be|considered|still|ever|possibly)\b[,\s]*",
    re.IGNORECASE,
)
_NAME = re.compile(r"(?<![\w'’])[A-Z][\w\-]+")
# What people say about themselves that a guess about them rests on.
_TRAIT_WORDS = "loves enjoys is passionate about cares about believes values supports wants dreams"


def _inference_queries(query: str) -> list[str]:
    """Extra queries for a question that asks for a guess ("What job might Maria pursue?",
    "Would Melanie enjoy a concert?"): the question without its hedges, and the people it
    names with the words of likes, values and plans, so the statements a guess rests on
    are recalled even when they share no word with the question."""
    if not _SPECULATIVE.search(query):
        return []
    plain = " ".join(_HEDGES.sub(" ", query).split()).strip(" ?")
    names = [n for n in _NAME.findall(query)[1:] if n.lower() not in ("i", "the")]
    first = _NAME.match(query)
    if first and first.group(0).lower() not in _QUESTION_WORDS:
        names.insert(0, first.group(0))
    extra = [plain] if plain and plain.casefold() != query.strip(" ?").casefold() else []
    if names:
        extra.append(" ".join(dict.fromkeys(names)) + " " + _TRAIT_WORDS)
    return extra


_QUESTION_WORDS = frozenset(
    ["what", "which", "who", "whom", "whose", "when", "where", "why", "how", "would", "is",
     "are", "does", "do", "did", "can", "could", "might", "will", "has", "have"]
)  # fmt: skip


def _tree_settings(mode: str, query: str) -> tuple[str, int, bool]:
    if cues.has_overview_cue(query):
        return "root_only", 0, False
    if mode == "action":
        return "descend", 2, True
    return "balanced", 1, mode == "mixed"


def _query_constraints(query: str) -> list[str]:
    return [f[:_CONSTRAINT_CHARS] for f in _fragments(query) if cues.constraint_cue(f)]


def heuristic_plan(
    query: str,
    action_state: ActionState,
    *,
    top_k: int,
    reference: datetime,
    timezone: str,
) -> SearchPlan:
    """Build the heuristic SearchPlan of §7.2 and merge ``action_state`` into it (§7.4).

    The temporal filter comes from the query's date expressions resolved against
    ``reference`` in ``timezone``; ``depth`` is ``top_k``. Never raises on odd input.
    """
    mode = plan_mode(query)
    semantic = [query]
    if len(query) > _LONG_QUERY:
        semantic += _key_clauses(query)
    semantic += _inference_queries(query)
    tools = cues.find_tools(query)
    pragmatic: list[str] = []
    if mode in ("action", "mixed"):
        pragmatic.append(" ".join([action_state.tentative_action or query, *tools]).strip())
    tree_mode, depth, leaves = _tree_settings(mode, query)
    plan = SearchPlan(
        mode=mode,
        semantic_queries=_dedupe(semantic),
        pragmatic_queries=_dedupe(pragmatic),
        temporal_filter=parse_query_window(query, reference, timezone),
        tool_hints=_dedupe(tools),
        required_constraints=_dedupe(_query_constraints(query)),
        required_affordances=_dedupe(cues.find_affordances(query)),
        missing_slots=[],
        tree_retrieval_mode=tree_mode,
        tree_expansion_depth=depth,
        include_leaf_records=leaves,
        depth=top_k,
        reasoning=f"heuristic: mode={mode}, tree={tree_mode}",
        planner="heuristic",
    )
    return merge_action_state(plan, action_state, query=query)


def merge_action_state(plan: SearchPlan, state: ActionState, *, query: str = "") -> SearchPlan:
    """Merge an ActionState into a plan (§7.4) and return a new plan.

    Tools, constraints and slots are unioned; an ``answer`` plan with a tentative action
    and any pragmatic/tool/slot/constraint signal becomes ``mixed`` (tree settings follow
    the new mode unless the plan is ``root_only``); in action/mixed mode the tentative
    action leads ``pragmatic_queries``. Lists are de-duplicated (casefold), capped at 8.
    """
    tool_hints = _dedupe([*plan.tool_hints, *state.available_tools])
    constraints = _dedupe([*plan.required_constraints, *state.known_constraints])
    slots = _dedupe([*plan.missing_slots, *state.missing_slots])
    mode = plan.mode
    signal = bool(plan.pragmatic_queries or tool_hints or slots or constraints)
    merged = replace(
        plan,
        tool_hints=tool_hints,
        required_constraints=constraints,
        missing_slots=slots,
    )
    if mode == "answer" and state.tentative_action and signal:
        mode = "mixed"
        merged.mode = mode
        merged.reasoning = (merged.reasoning + "; upgraded to mixed by action state").strip("; ")
        if merged.tree_retrieval_mode != "root_only":
            merged.tree_retrieval_mode, merged.tree_expansion_depth = "balanced", 1
            merged.include_leaf_records = True
    pragmatic = list(merged.pragmatic_queries)
    if mode in ("action", "mixed") and state.tentative_action:
        pragmatic.insert(0, state.tentative_action)
    if mode in ("action", "mixed") and not pragmatic and query:
        pragmatic.append(query)
    merged.pragmatic_queries = _dedupe(pragmatic)
    merged.required_affordances = _dedupe(merged.required_affordances)
    merged.semantic_queries = _dedupe(merged.semantic_queries)
    return merged
