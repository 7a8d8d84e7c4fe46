"""The LangGraph state of one chat turn and the runtime context the nodes receive.

``PipelineState`` carries data between the five stages (MEMORY.md §10);
``PipelineContext`` carries dependencies (never globals) and arrives through
the LangGraph runtime. The context is built once per app and shared by runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from operator import add
from typing import Annotated, Any, TypedDict

from lycheemem.chat.reasoner import Reasoner
from lycheemem.chat.synthesizer import Synthesizer
from lycheemem.clock import Clock
from lycheemem.config import Settings
from lycheemem.domain.locks import SessionLocks
from lycheemem.domain.models import Turn
from lycheemem.domain.ports import LLM, ConsolidationQueue, SessionStore
from lycheemem.domain.turns import TurnFactory
from lycheemem.domain.working_memory.manager import WorkingMemoryManager
from lycheemem.retrieval.feedback import FeedbackService
from lycheemem.retrieval.planner.llm import LLMPlanner
from lycheemem.retrieval.reflection import LLMReflector
from lycheemem.retrieval.search import SemanticSearch

__all__ = ["ChatMemory", "PipelineContext", "PipelineState", "STEP_NAMES", "TRACE_KEYS"]

STEP_NAMES: tuple[str, ...] = ("wm_manager", "search", "synthesize", "reason", "finalize")
"""Graph node names, in execution order."""

TRACE_KEYS: dict[str, str] = {
    "wm_manager": "wm_manager",
    "search": "search_coordinator",
    "synthesize": "synthesizer",
    "reason": "reasoner",
    "finalize": "consolidator",
}
"""Node name -> key of its fragment in the PipelineTrace (API.md §2.7)."""


class PipelineState(TypedDict, total=False):
    """Everything one turn's stages read and write (MEMORY.md §10)."""

    # inputs
    user_id: str
    session_id: str
    user_query: str
    reference_time: datetime | None
    trace_id: str
    top_k: int
    # 1 wm_manager
    compressed_history: list[dict[str, str]]
    raw_recent_turns: list[Any]
    wm_token_usage: int
    user_turn_index: int
    wm_trace: dict[str, Any]
    feedback_update: dict[str, Any] | None
    # 2 search
    recent_context: str
    action_state: dict[str, Any]
    retrieval_plan: dict[str, Any]
    search_mode: str
    provenance_raw: list[dict[str, Any]]
    constructed_context: str
    novelty_retrieved_context: str
    retrieved_skills: list[dict[str, Any]]
    usage_log_id: str | None
    search_trace: dict[str, Any]
    # 3 synthesize
    background_context: str
    skill_reuse_plan: list[dict[str, Any]]
    provenance: list[dict[str, Any]]
    kept_count: int
    dropped_count: int
    synth_trace: dict[str, Any]
    # 4 reason
    final_response: str
    reasoner_mode: str
    reason_trace: dict[str, Any]
    # 5 finalize
    assistant_turn_index: int
    consolidation_job_id: str | None
    consolidator_trace: dict[str, Any]
    # accounting
    turn_input_tokens: int
    turn_output_tokens: int
    llm_calls: Annotated[list[str], add]


@dataclass(slots=True)
class ChatMemory:
    """The memory parts a chat turn reads and writes (sessions, working memory, search,
    the consolidation queue) and the per-session locks that serialise turns."""

    sessions: SessionStore
    working_memory: WorkingMemoryManager
    turns: TurnFactory
    searcher: SemanticSearch
    consolidation: ConsolidationQueue
    locks: SessionLocks
    clock: Clock

    def build_turn(self, **fields: Any) -> Turn:
        """A turn ready to store (see :meth:`TurnFactory.build`)."""
        return self.turns.build(**fields)


@dataclass(slots=True)
class PipelineContext:
    """Dependencies of the graph's nodes (the LangGraph runtime context)."""

    settings: Settings
    llm: LLM | None
    memory: ChatMemory
    feedback: FeedbackService
    synthesizer: Synthesizer
    reasoner: Reasoner
    planner: LLMPlanner | None = None
    reflector: LLMReflector | None = None

    @property
    def mode(self) -> str:
        """``llm`` or ``memory_only``."""
        return "llm" if self.llm is not None else "memory_only"
