"""``/memory/*`` write routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from lycheemem.api.deps import CallerDep, ContextDep
from lycheemem.api.responses import (
    ConsolidationPublic,
    FeedbackPublic,
    ReasonPublic,
    SearchPublic,
    SmartSearchPublic,
    SynthesisPublic,
)
from lycheemem.api.routes.sessions import SessionPath
from lycheemem.api.schemas import (
    ConsolidateCreate,
    FeedbackCreate,
    ReasonCreate,
    SearchCreate,
    SmartSearchCreate,
    SynthesizeCreate,
    TurnAppended,
    TurnCreate,
)
from lycheemem.services.presenters import search_response

router = APIRouter(prefix="/memory", tags=["memory"])


@router.post("/append-turn", response_model=TurnAppended)
async def append_turn(body: TurnCreate, caller: CallerDep, ctx: ContextDep) -> TurnAppended:
    """Mirror one user or assistant turn into the caller's session."""
    outcome = await ctx.service.append_turn(
        user_id=caller.user_id,
        session_id=body.session_id,
        role=body.role,
        content=body.content,
        token_count=body.token_count,
        turn_id=body.turn_id,
        created_at=body.created_at,
        speaker=body.speaker,
        metadata=body.metadata,
    )
    return TurnAppended(
        status=outcome.status,  # type: ignore[arg-type]
        session_id=body.session_id,
        turn_count=outcome.turn_count,
        turn_index=outcome.turn_index,
        turn_id=outcome.turn_id,
    )


@router.post("/search", response_model=SearchPublic, response_model_exclude_unset=True)
async def search(body: SearchCreate, caller: CallerDep, ctx: ContextDep) -> dict[str, Any]:
    """Unified retrieval over the caller's semantic memory and skills."""
    outcome = await ctx.service.search(
        user_id=caller.user_id,
        query=body.query,
        top_k=body.top_k,
        session_id=body.session_id,
        include_graph=body.include_graph,
        include_skills=body.include_skills,
        reference_time=body.reference_time,
    )
    return search_response(outcome)


@router.post("/consolidate", response_model=ConsolidationPublic, response_model_exclude_unset=True)
async def consolidate(
    body: ConsolidateCreate, caller: CallerDep, ctx: ContextDep
) -> dict[str, Any]:
    """Consolidate every turn of the caller's session after its watermark."""
    return await ctx.service.consolidate(
        user_id=caller.user_id,
        session_id=body.session_id,
        retrieved_context=body.retrieved_context,
        background=body.background,
        force=body.force,
    )


@router.post(
    "/consolidate/{session_id}",
    response_model=ConsolidationPublic,
    response_model_exclude_unset=True,
)
async def consolidate_legacy(
    session_id: SessionPath, caller: CallerDep, ctx: ContextDep
) -> dict[str, Any]:
    """Legacy form: synchronous consolidation with an empty retrieved context."""
    result = await ctx.service.consolidate(
        user_id=caller.user_id, session_id=session_id, background=False
    )
    result["message"] = (
        f"Consolidation done: {result.get('records_added', 0)} records, "
        f"{result.get('skills_added', 0)} skills extracted."
    )
    return result


@router.post("/smart-search", response_model=SmartSearchPublic, response_model_exclude_unset=True)
async def smart_search(
    body: SmartSearchCreate, caller: CallerDep, ctx: ContextDep
) -> dict[str, Any]:
    """Search and (unless ``raw``) synthesis in one call."""
    return await ctx.service.smart_search(
        user_id=caller.user_id,
        query=body.query,
        top_k=body.top_k,
        session_id=body.session_id,
        include_graph=body.include_graph,
        include_skills=body.include_skills,
        synthesize=body.synthesize,
        mode=body.mode,
        reference_time=body.reference_time,
    )


@router.post("/synthesize", response_model=SynthesisPublic, response_model_exclude_unset=True)
async def synthesize(body: SynthesizeCreate, caller: CallerDep, ctx: ContextDep) -> dict[str, Any]:
    """Fuse client-supplied retrieval results into background context."""
    return await ctx.service.synthesize(
        user_id=caller.user_id,
        user_query=body.user_query,
        semantic_results=body.semantic_results,
        graph_results=body.graph_results,
        skill_results=body.skill_results,
    )


@router.post("/reason", response_model=ReasonPublic, response_model_exclude_unset=True)
async def reason(body: ReasonCreate, caller: CallerDep, ctx: ContextDep) -> dict[str, Any]:
    """Run the reasoning stage over a context the client prepared."""
    return await ctx.service.reason(
        user_id=caller.user_id,
        session_id=body.session_id,
        user_query=body.user_query,
        background_context=body.background_context,
        skill_reuse_plan=[item.model_dump() for item in body.skill_reuse_plan],
        retrieved_skills=body.retrieved_skills,
        append_to_session=body.append_to_session,
    )


@router.post("/feedback", response_model=FeedbackPublic, response_model_exclude_unset=True)
async def feedback(body: FeedbackCreate, caller: CallerDep, ctx: ContextDep) -> dict[str, Any]:
    """Explicit outcome feedback on a retrieval."""
    return await ctx.service.feedback(
        user_id=caller.user_id,
        usage_log_id=body.usage_log_id,
        session_id=body.session_id,
        feedback=body.feedback,
        record_ids=body.record_ids,
        note=body.note,
    )
