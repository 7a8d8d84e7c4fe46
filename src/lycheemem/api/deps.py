"""FastAPI dependencies: the app context and the resolved caller."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from lycheemem.auth.users import Caller
from lycheemem.errors import AuthError, NotReady

if TYPE_CHECKING:
    from lycheemem.bootstrap import AppContext

__all__ = [
    "CallerDep",
    "ContextDep",
    "UserCallerDep",
    "client_address",
    "get_caller",
    "get_context",
]


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


def _trusted(host: str, proxies: Sequence[IPv4Network | IPv6Network]) -> bool:
    try:
        address = ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in proxies)


def client_address(request: Request, proxies: Sequence[IPv4Network | IPv6Network]) -> str:
    """The client's address: the TCP peer, unless that peer is a trusted proxy.

    Behind trusted proxies, ``X-Forwarded-For`` is read from the right and the first
    address that is not itself a trusted proxy is the client; a header from any other
    peer is ignored, so nobody can pick their own address for the login limiter.
    """
    peer = request.client.host if request.client else ""
    if not proxies or not _trusted(peer, proxies):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getlist("x-forwarded-for")).split(",")]
    for hop in reversed([h for h in hops if h]):
        if not _trusted(hop, proxies):
            return hop
    return peer
