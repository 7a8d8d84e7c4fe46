"""``/auth/*``: registration, login and the current user."""

from __future__ import annotations

from fastapi import APIRouter, Request

from lycheemem.api.deps import ContextDep, UserCallerDep
from lycheemem.api.schemas import LoginCreate, MePublic, TokenPublic, UserCreate
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
    client = request.client.host if request.client else ""
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
