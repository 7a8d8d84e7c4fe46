"""The synthesizer: select relevant fragments and fuse them into background context.

Two judges (MEMORY.md §11): ``threshold`` (default, no LLM call) keeps
fragments whose relevance clears ``synth_min_relevance``; ``llm`` asks the
model once for 0–1 relevance scores and a fused context, and the threshold
``synth_judge_threshold`` is then applied here, in code.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from lycheemem.domain.ports import LLM, Embedder
from lycheemem.domain.prompts import load_prompt
from lycheemem.domain.text.terms import lexical_overlap, query_terms
from lycheemem.errors import LLMError

__all__ = [
    "Fragment",
    "SynthesisResult",
    "Synthesizer",
    "SynthesizerConfig",
    "fragment_line",
    "fragments_from_results",
]

log = logging.getLogger(__name__)

FALLBACK_MIN_RELEVANCE = 0.25
MAX_PLAN_SKILLS = 3
JUDGE_TEXT_CHARS = 800
JUDGE_SKILL_PREVIEW = 240
LEXICAL_WEIGHT = 0.9
_CITATION = re.compile(r"\[(\d+)\]")
_LINEAGE_KEYS = (
    "source_session_id",
    "source_turn_ids",
    "source_turn_refs",
    "sources",
    "source_record_ids",
)


@dataclass(slots=True, frozen=True)
class SynthesizerConfig:
    """Synthesis settings (``LYCHEEMEM_SYNTH_*``)."""

    judge: str = "threshold"
    judge_threshold: float = 0.6
    min_relevance: float = 0.45
    max_chars: int = 6000
    skill_reuse_threshold: float = 0.85


@dataclass(slots=True)
class Fragment:
    """One input of synthesis: a semantic item (ProvenanceItem dict) or a skill."""

    kind: str
    item: dict[str, Any]
    relevance: float = 0.0

    @property
    def score(self) -> float:
        """The retrieval score the fragment arrived with."""
        return float(self.item.get("score") or 0.0)

    @property
    def text(self) -> str:
        """The text a judge or embedder reads."""
        if self.kind == "skill":
            return str(self.item.get("intent") or "")
        return str(self.item.get("semantic_text") or "")


class _JudgeScore(BaseModel):
    index: int
    relevance: float = Field(ge=0.0, le=1.0)


class JudgeOutput(BaseModel):
    """The LLM judge's answer."""

    scores: list[_JudgeScore] = Field(default_factory=list)
    background_context: str = ""


@dataclass
class SynthesisResult:
    """What synthesis produced, in API shapes (API.md §2.4, §6)."""

    background_context: str = ""
    skill_reuse_plan: list[dict[str, Any]] = field(default_factory=list)
    provenance: list[dict[str, Any]] = field(default_factory=list)
    kept_items: list[dict[str, Any]] = field(default_factory=list)
    kept_count: int = 0
    dropped_count: int = 0
    judge: str = "threshold"

    def response(self) -> dict[str, Any]:
        """The ``POST /memory/synthesize`` response."""
        return {
            "background_context": self.background_context,
            "skill_reuse_plan": self.skill_reuse_plan,
            "provenance": self.provenance,
            "kept_count": self.kept_count,
            "dropped_count": self.dropped_count,
        }

    def trace(self) -> dict[str, Any]:
        """The ``synthesizer`` trace fragment (API.md §2.7)."""
        return {**self.response(), "judge": self.judge}


def fragments_from_results(
    semantic_results: Sequence[Mapping[str, Any]],
    graph_results: Sequence[Mapping[str, Any]] = (),
    skill_results: Sequence[Mapping[str, Any]] = (),
) -> list[Fragment]:
    """Client-supplied wrappers and skills as fragments (``graph_results`` only as fallback)."""
    wrappers = list(semantic_results) or list(graph_results)
    fragments: list[Fragment] = []
    for wrapper in wrappers:
        items = wrapper.get("provenance") if isinstance(wrapper, Mapping) else None
        for item in items or []:
            if isinstance(item, Mapping) and str(item.get("semantic_text") or "").strip():
                fragments.append(Fragment("semantic", dict(item)))
    for skill in skill_results:
        if isinstance(skill, Mapping) and str(skill.get("intent") or "").strip():
            fragments.append(Fragment("skill", dict(skill)))
    return fragments


def _date_of(item: Mapping[str, Any]) -> str:
    temporal = item.get("temporal") or {}
    for key in ("t_ref", "t_valid_from"):
        value = temporal.get(key) if isinstance(temporal, Mapping) else None
        if value:
            return str(value)[:10]
    return str(item.get("created_at") or "")[:10]


def _origin(item: Mapping[str, Any]) -> str:
    session = item.get("source_session_id")
    turns = list(item.get("source_turn_ids") or [])
    sources = item.get("sources") or []
    if not session and sources and isinstance(sources[0], Mapping):
        session = sources[0].get("session_id")
        turns = list(sources[0].get("turn_ids") or [])
    if not session:
        return ""
    if not turns:
        return f"session {session}"
    low, high = min(turns), max(turns)
    span = f"turn {low}" if low == high else f"turns {low}–{high}"
    return f"session {session} {span}"


def fragment_line(number: int, item: Mapping[str, Any]) -> str:
    """``[n] (<memory_type>; <date>; session <id> turns <a–b>) <semantic_text>`` (§11.1)."""
    parts = [str(item.get("memory_type") or "memory")]
    parts += [p for p in (_date_of(item), _origin(item)) if p]
    text = " ".join(str(item.get("semantic_text") or "").split())
    return f"[{number}] ({'; '.join(parts)}) {text}"


def _plan_item(skill: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "skill_id": skill.get("skill_id") or skill.get("id"),
        "intent": skill.get("intent", ""),
        "doc_markdown": skill.get("doc_markdown", ""),
        "score": float(skill.get("score") or 0.0),
        "conditions": skill.get("conditions", "") or "",
    }


def _semantic_provenance(number: int, fragment: Fragment) -> dict[str, Any]:
    item = fragment.item
    source_type = item.get("semantic_source_type") or item.get("source") or "record"
    entry = {
        "index": number,
        "source": "semantic",
        "semantic_source_type": source_type if source_type in ("record", "composite") else "record",
        "record_id": item.get("record_id"),
        "memory_type": item.get("memory_type"),
        "semantic_text": item.get("semantic_text"),
        "score": fragment.score,
        "relevance": round(fragment.relevance, 4),
    }
    entry.update({k: item[k] for k in _LINEAGE_KEYS if k in item})
    return entry


def _skill_provenance(number: int, fragment: Fragment) -> dict[str, Any]:
    item = fragment.item
    return {
        "index": number,
        "source": "skill",
        "semantic_source_type": None,
        "skill_id": item.get("skill_id") or item.get("id"),
        "intent": item.get("intent"),
        "score": fragment.score,
        "relevance": round(fragment.relevance, 4),
    }


class Synthesizer:
    """Turns selected memories and skills into ``background_context`` and a skill plan."""

    def __init__(self, *, llm: LLM | None, embedder: Embedder, config: SynthesizerConfig) -> None:
        self._llm = llm
        self._embedder = embedder
        self.config = config

    @property
    def judge_mode(self) -> str:
        """``llm`` when the LLM judge is configured and a model exists, else ``threshold``."""
        return "llm" if self.config.judge == "llm" and self._llm is not None else "threshold"

    # -- entry points ------------------------------------------------------------
    async def from_search(
        self,
        query: str,
        provenance: Sequence[Mapping[str, Any]],
        skills: Sequence[Mapping[str, Any]],
    ) -> SynthesisResult:
        """Synthesize a search outcome; relevance is each item's ``S_sem``."""
        fragments = [
            Fragment(
                "semantic",
                dict(p),
                float((p.get("score_breakdown") or {}).get("semantic", p.get("score") or 0.0)),
            )
            for p in provenance
        ]
        fragments += [Fragment("skill", dict(s), float(s.get("score") or 0.0)) for s in skills]
        return await self.synthesize(query, fragments)

    async def from_client(
        self,
        query: str,
        semantic_results: Sequence[Mapping[str, Any]],
        graph_results: Sequence[Mapping[str, Any]],
        skill_results: Sequence[Mapping[str, Any]],
    ) -> SynthesisResult:
        """Synthesize client-supplied results; relevance is recomputed from embeddings."""
        fragments = fragments_from_results(semantic_results, graph_results, skill_results)
        await self._recompute_relevance(query, fragments)
        return await self.synthesize(query, fragments)

    async def synthesize(self, query: str, fragments: list[Fragment]) -> SynthesisResult:
        """Run the configured judge over ``fragments`` (relevance already filled in)."""
        if self.judge_mode == "llm" and fragments:
            judged = await self._judge(query, fragments)
            if judged is not None:
                return judged
        return self._threshold(fragments)

    # -- threshold ---------------------------------------------------------------
    def _select_semantic(self, fragments: Sequence[Fragment], floor: float) -> list[Fragment]:
        kept = [f for f in fragments if f.relevance >= floor]
        if not kept and fragments:
            best = max(fragments, key=lambda f: f.relevance)
            kept = [best] if best.relevance >= FALLBACK_MIN_RELEVANCE else []
        return sorted(kept, key=lambda f: f.score, reverse=True)

    def _reusable(self, skill: Fragment) -> bool:
        flag = skill.item.get("reusable")
        if isinstance(flag, bool):
            return flag
        return skill.score >= self.config.skill_reuse_threshold

    def _threshold(self, fragments: Sequence[Fragment]) -> SynthesisResult:
        semantic = [f for f in fragments if f.kind == "semantic"]
        skills = [f for f in fragments if f.kind == "skill"]
        chosen = self._select_semantic(semantic, self.config.min_relevance)
        plan_skills = [s for s in skills if self._reusable(s)][:MAX_PLAN_SKILLS]
        return self._render(chosen, plan_skills, len(fragments), judge="threshold")

    def _render(
        self,
        chosen: Sequence[Fragment],
        plan_skills: Sequence[Fragment],
        total: int,
        *,
        judge: str,
        fused: str | None = None,
        numbers: Sequence[int] | None = None,
    ) -> SynthesisResult:
        lines: list[str] = []
        kept: list[Fragment] = []
        size = 0
        for fragment in chosen:
            line = fragment_line(len(kept) + 1, fragment.item)
            if kept and size + len(line) + 1 > self.config.max_chars:
                break
            lines.append(line)
            kept.append(fragment)
            size += len(line) + 1
        numbering = list(numbers) if numbers is not None else list(range(1, len(kept) + 1))
        provenance = [_semantic_provenance(n, f) for n, f in zip(numbering, kept, strict=False)]
        next_number = (max(numbering) if numbering else 0) + 1
        provenance += [_skill_provenance(next_number + i, s) for i, s in enumerate(plan_skills)]
        kept_items = [{**f.item, "relevance": round(f.relevance, 4)} for f in kept]
        kept_count = len(kept) + len(plan_skills)
        return SynthesisResult(
            background_context=fused if fused is not None else "\n".join(lines),
            skill_reuse_plan=[_plan_item(s.item) for s in plan_skills],
            provenance=provenance,
            kept_items=kept_items,
            kept_count=kept_count,
            dropped_count=max(0, total - kept_count),
            judge=judge,
        )

    # -- LLM judge ---------------------------------------------------------------
    def _judge_prompt(self, query: str, fragments: Sequence[Fragment]) -> str:
        lines = []
        for number, fragment in enumerate(fragments, start=1):
            if fragment.kind == "skill":
                preview = str(fragment.item.get("doc_markdown") or "")[:JUDGE_SKILL_PREVIEW]
                lines.append(f"[{number}] (skill) {fragment.text} — {' '.join(preview.split())}")
            else:
                text = " ".join(fragment.text.split())[:JUDGE_TEXT_CHARS]
                lines.append(f"[{number}] ({fragment.item.get('memory_type', 'memory')}) {text}")
        return f"QUERY:\n{query}\n\nFRAGMENTS:\n" + "\n".join(lines)

    async def _judge(self, query: str, fragments: list[Fragment]) -> SynthesisResult | None:
        assert self._llm is not None
        messages = [
            {"role": "system", "content": load_prompt("judge")},
            {"role": "user", "content": self._judge_prompt(query, fragments)},
        ]
        try:
            output, _ = await self._llm.complete_json(messages, JudgeOutput, purpose="judge")
        except LLMError as exc:
            log.warning("LLM judge failed, using threshold synthesis: %s", exc.message)
            return None
        scores = {s.index: s.relevance for s in output.scores}
        for number, fragment in enumerate(fragments, start=1):
            fragment.relevance = scores.get(number, 0.0)
        threshold = self.config.judge_threshold
        kept_numbers = [
            n
            for n, f in enumerate(fragments, start=1)
            if f.kind == "semantic" and f.relevance >= threshold
        ]
        chosen = [fragments[n - 1] for n in kept_numbers]
        plan_skills = [f for f in fragments if f.kind == "skill" and f.relevance >= threshold][
            :MAX_PLAN_SKILLS
        ]
        fused = output.background_context.strip()
        cited = {int(m) for m in _CITATION.findall(fused)}
        fits = bool(fused) and cited <= set(kept_numbers) and len(fused) <= self.config.max_chars
        if not fits:
            # Fall back to our own rendering of what the judge kept: never trust a fused
            # text that cites dropped fragments.
            return self._render(chosen, plan_skills, len(fragments), judge="llm")
        return self._render(
            chosen, plan_skills, len(fragments), judge="llm", fused=fused, numbers=kept_numbers
        )

    # -- relevance of client fragments ------------------------------------------
    async def _recompute_relevance(self, query: str, fragments: list[Fragment]) -> None:
        if not fragments:
            return
        texts = [query] + [f.text for f in fragments]
        matrix = await self._embedder.embed(texts, kind="query")
        cosines = np.clip(matrix[1:] @ matrix[0], 0.0, 1.0)
        terms = query_terms(query)
        for fragment, cosine in zip(fragments, cosines, strict=True):
            lexical = lexical_overlap(terms, fragment.text) if terms else 0.0
            fragment.relevance = float(min(1.0, max(float(cosine), LEXICAL_WEIGHT * lexical)))
