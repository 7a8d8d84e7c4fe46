"""FastAPI dependencies: the app context and the resolved caller."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from lycheemem.auth.users import Caller
from lycheemem.errors import AuthError, NotReady

if TYPE_CHECKING:
    from lycheemem.bootstrap import AppContext

__all__ = ["CallerDep", "ContextDep", "UserCallerDep", "get_caller", "get_context"]


def get_context(request: Request) -> AppContext:
    """The running app's context; 503 while startup has not finished."""
    ctx = getattr(request.app.state, "ctx", None)
    if ctx is None or not ctx.ready:
        raise NotReady("The server is starting up")
    return ctx


async def get_caller(request: Request) -> Caller:
    """Resolve the caller from ``Authorization`` (API.md §1.2)."""
    ctx = get_context(request)
    return await ctx.auth.caller_from_header(request.headers.get("authorization"))


async def get_registered_caller(request: Request) -> Caller:
    """Like ``get_caller`` but the anonymous namespace is refused with 401."""
    caller = await get_caller(request)
    if caller.is_anonymous:
        raise AuthError("Authentication required")
    return caller


ContextDep = Annotated["AppContext", Depends(get_context)]
CallerDep = Annotated[Caller, Depends(get_caller)]
UserCallerDep = Annotated[Caller, Depends(get_registered_caller)]
