"""``/memory/skills``: list and delete the caller's skills."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from lycheemem.api.deps import CallerDep, ContextDep
from lycheemem.api.responses import MessagePublic, SkillsCleared, SkillsPublic
from lycheemem.api.schemas import Offset
from lycheemem.services.presenters import skill_public

router = APIRouter(prefix="/memory/skills", tags=["skills"])


@router.get("", response_model=SkillsPublic, response_model_exclude_unset=True)
async def list_skills(
    caller: CallerDep,
    ctx: ContextDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """The caller's skills, most recently updated first, optionally full-text filtered."""
    skills, total = await ctx.manage.list_skills(
        user_id=caller.user_id, q=(q or "").strip() or None, offset=offset, limit=limit
    )
    return {"skills": [skill_public(skill) for skill in skills], "total": total}


# Declared before "/{skill_id}" so "clear" is never taken for a skill id.
@router.delete("/clear", response_model=SkillsCleared, response_model_exclude_unset=True)
async def clear_skills(caller: CallerDep, ctx: ContextDep) -> dict[str, Any]:
    """Delete every skill of the caller."""
    deleted = await ctx.manage.clear_skills(user_id=caller.user_id)
    return {"message": f"{deleted} skills deleted", "deleted": deleted}


@router.delete("/{skill_id}", response_model=MessagePublic, response_model_exclude_unset=True)
async def delete_skill(
    skill_id: Annotated[str, Path(min_length=1, max_length=128)],
    caller: CallerDep,
    ctx: ContextDep,
) -> dict[str, Any]:
    """Delete one of the caller's skills (404 for ids the caller does not own)."""
    await ctx.manage.delete_skill(user_id=caller.user_id, skill_id=skill_id)
    return {"message": f"Skill {skill_id!r} deleted"}
