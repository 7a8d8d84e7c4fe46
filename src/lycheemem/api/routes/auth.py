"""``/auth/*``: registration, login and the current user."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from lycheemem.api.deps import ContextDep, UserCallerDep, client_address
from lycheemem.api.responses import AccountDeleted
from lycheemem.api.schemas import AccountDelete, LoginCreate, MePublic, TokenPublic, UserCreate
from lycheemem.auth.users import Session, expires_iso
from lycheemem.clock import format_ts
from lycheemem.errors import AuthError

router = APIRouter(prefix="/auth", tags=["auth"])


def _token_public(login: Session) -> TokenPublic:
    return TokenPublic(
        user_id=login.user.user_id,
        username=login.user.username,
        display_name=login.user.display_name,
        token=login.token.token,
        expires_at=expires_iso(login.token),
    )


@router.post("/register", response_model=TokenPublic)
async def register(body: UserCreate, ctx: ContextDep) -> TokenPublic:
    """Create an account and return a token."""
    login = await ctx.auth.register(
        username=body.username, password=body.password, display_name=body.display_name
    )
    return _token_public(login)


@router.post("/login", response_model=TokenPublic)
async def login(body: LoginCreate, request: Request, ctx: ContextDep) -> TokenPublic:
    """Exchange username and password for a token."""
    client = client_address(request, ctx.settings.trusted_proxy_networks)
    session = await ctx.auth.login(username=body.username, password=body.password, client=client)
    return _token_public(session)


@router.get("/me", response_model=MePublic)
async def me(caller: UserCallerDep, ctx: ContextDep) -> MePublic:
    """The account behind the bearer token."""
    user = await ctx.auth.user(caller.user_id)
    if user is None:
        raise AuthError("Authentication required")
    return MePublic(
        user_id=user.user_id,
        username=user.username,
        display_name=user.display_name,
        created_at=user.created_at,
        token_expires_at=format_ts(caller.token_expires_at) if caller.token_expires_at else None,
    )


@router.delete("/me", response_model=AccountDeleted, response_model_exclude_unset=True)
async def delete_me(body: AccountDelete, caller: UserCallerDep, ctx: ContextDep) -> dict[str, Any]:
    """Delete the account and everything it stored; its tokens stop working at once.

    Tokens are revoked and the account row removed first, so no request can add data while
    the rest (memory, sessions, jobs, vectors, skills, usage logs, long documents) goes.
    A wrong password is 403.
    """
    await ctx.auth.confirm_password(caller.user_id, body.password)
    await ctx.auth.delete_user(caller.user_id)
    deleted = await ctx.manage.delete_all(user_id=caller.user_id)
    deleted["long_documents"] = await ctx.longdoc.delete_user(caller.user_id)
    return {"deleted": deleted}
