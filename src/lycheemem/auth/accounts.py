"""Deleting an account: every trace of the tenant, and its tokens revoked at once."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lycheemem.bootstrap import AppContext

__all__ = ["delete_account"]


async def delete_account(ctx: AppContext, *, user_id: str, password: str) -> dict[str, int]:
    """Delete ``user_id``'s account after checking ``password``; returns what was deleted.

    Order matters: tokens are revoked and the account row removed first, so no request
    can add data while the rest (memory, sessions, jobs, vectors, skills, usage logs,
    long documents) is deleted. ``Forbidden`` when the password does not match.
    """
    await ctx.auth.confirm_password(user_id, password)
    await ctx.auth.delete_user(user_id)
    deleted = await ctx.manage.delete_all(user_id=user_id)
    deleted["long_documents"] = await ctx.longdoc.delete_user(user_id)
    return deleted
