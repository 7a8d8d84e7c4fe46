"""The LangGraph pipeline: wm_manager → search → synthesize → reason → finalize.

``build_graph()`` compiles one graph per app. Both ``/chat`` and
``/chat/complete`` run it through ``astream`` (updates + custom stream), so
there is exactly one pipeline; the consolidator runs after ``finalize`` as a
durable background job.
"""

from __future__ import annotations

from typing import Any

from lycheemem.chat.nodes.finalize import finalize
from lycheemem.chat.nodes.reason import reason
from lycheemem.chat.nodes.search import search
from lycheemem.chat.nodes.synthesize import synthesize
from lycheemem.chat.nodes.wm_manager import wm_manager
from lycheemem.chat.reasoner import Reasoner
from lycheemem.chat.runner import ChatRunner
from lycheemem.chat.state import STEP_NAMES, ChatMemory, PipelineContext, PipelineState
from lycheemem.chat.synthesizer import Synthesizer, SynthesizerConfig
from lycheemem.config import Settings
from lycheemem.domain.ports import LLM, Embedder
from lycheemem.retrieval.feedback import FeedbackService
from lycheemem.retrieval.planner.llm import LLMPlanner
from lycheemem.retrieval.reflection import LLMReflector

__all__ = ["build_graph", "build_pipeline"]

_NODES = {
    "wm_manager": wm_manager,
    "search": search,
    "synthesize": synthesize,
    "reason": reason,
    "finalize": finalize,
}


def build_graph() -> Any:
    """The compiled five-stage graph; dependencies arrive as the runtime context."""
    from langgraph.graph import END, START, StateGraph

    graph = StateGraph(PipelineState, context_schema=PipelineContext)
    for name in STEP_NAMES:
        graph.add_node(name, _NODES[name])
    graph.add_edge(START, STEP_NAMES[0])
    for current, following in zip(STEP_NAMES, STEP_NAMES[1:], strict=False):
        graph.add_edge(current, following)
    graph.add_edge(STEP_NAMES[-1], END)
    return graph.compile(name="lycheemem-chat")


def build_pipeline(
    *,
    settings: Settings,
    llm: LLM | None,
    memory: ChatMemory,
    feedback: FeedbackService,
    embedder: Embedder,
) -> ChatRunner:
    """Build the stages from settings around ``memory`` and return the runner."""
    planner = (
        LLMPlanner(llm=llm, policy=settings.planner)
        if llm is not None and settings.planner != "heuristic"
        else None
    )
    reflector = (
        LLMReflector(llm=llm, rounds=settings.reflection_rounds)
        if llm is not None and settings.reflection_rounds > 0
        else None
    )
    context = PipelineContext(
        settings=settings,
        llm=llm,
        memory=memory,
        feedback=feedback,
        synthesizer=Synthesizer(
            llm=llm,
            embedder=embedder,
            config=SynthesizerConfig(
                judge=settings.synth_judge,
                judge_threshold=settings.synth_judge_threshold,
                min_relevance=settings.synth_min_relevance,
                max_chars=settings.synth_max_chars,
                skill_reuse_threshold=settings.skill_reuse_threshold,
            ),
        ),
        reasoner=Reasoner(llm=llm, temperature=settings.llm_temperature),
        planner=planner,
        reflector=reflector,
    )
    return ChatRunner(graph=build_graph(), context=context)
