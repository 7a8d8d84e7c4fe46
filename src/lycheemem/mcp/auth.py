"""Who is calling over MCP: the JWT token verifier and the anonymous shim.

The SDK's bearer middleware asks ``JwtTokenVerifier`` about every request to
``/mcp``; a ``None`` answer becomes a 401. When anonymous access is allowed,
``AnonymousShim`` gives header-less requests a random server-side token that
only the verifier recognises, so the SDK treats the anonymous namespace as an
ordinary principal (401s and session ownership apply uniformly).
"""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING, Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver.exceptions import ToolError
from starlette.types import ASGIApp, Receive, Scope, Send

from lycheemem.auth.tokens import LEEWAY_S
from lycheemem.errors import InvalidToken

if TYPE_CHECKING:
    from lycheemem.bootstrap import AppContext

__all__ = [
    "ANONYMOUS_PRINCIPAL",
    "AnonymousShim",
    "JwtTokenVerifier",
    "current_user_id",
]

log = logging.getLogger(__name__)

ANONYMOUS_PRINCIPAL = "anonymous"


class JwtTokenVerifier:
    """Verifies LycheeMem JWTs for the MCP SDK with the same rules as REST (API.md §1.2).

    ``anonymous_token``, when given, is the shim's secret value and maps to the
    anonymous principal; any other token must be a valid, unexpired JWT whose
    user still exists. Everything else yields ``None`` (the SDK answers 401).
    """

    def __init__(self, ctx: AppContext, *, anonymous_token: str | None = None) -> None:
        self._ctx = ctx
        self._anonymous_token = anonymous_token

    async def verify_token(self, token: str) -> AccessToken | None:
        """Return the principal of ``token``, or ``None`` when it must be refused."""
        if self._anonymous_token is not None and hmac.compare_digest(
            token.encode(), self._anonymous_token.encode()
        ):
            return AccessToken(
                token=token,
                client_id=ANONYMOUS_PRINCIPAL,
                scopes=[],
                subject=ANONYMOUS_PRINCIPAL,
                claims={"anonymous": True},
            )
        if not self._ctx.ready:
            return None
        auth = self._ctx.auth
        try:
            claims: dict[str, Any] = auth.tokens.verify(token)
            caller = await auth.caller_from_token(token)
        except InvalidToken:
            return None
        return AccessToken(
            token=token,
            client_id=caller.user_id,
            scopes=[],
            # The SDK compares expiry without leeway; REST allows LEEWAY_S, so match it.
            expires_at=int(claims["exp"]) + LEEWAY_S,
            subject=caller.user_id,
            claims=claims,
        )


class AnonymousShim:
    """ASGI wrapper that gives requests without ``Authorization`` the anonymous token.

    Installed only when ``LYCHEEMEM_REQUIRE_AUTH=false``. A request that sends
    any ``Authorization`` header is passed on untouched, so a bad token still
    gets its 401 instead of falling back to the anonymous namespace.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._header = (b"authorization", f"Bearer {token}".encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not any(
            key.lower() == b"authorization" for key, _ in scope.get("headers", [])
        ):
            scope = {**scope, "headers": [*scope.get("headers", []), self._header]}
        await self.app(scope, receive, send)


def current_user_id() -> str:
    """The memory namespace of the current MCP request (``""`` for anonymous).

    Raises ``ToolError`` if no verified principal is attached, which only
    happens when a tool is called outside the authenticated HTTP app.
    """
    token = get_access_token()
    if token is None:
        raise ToolError("Authentication required")
    if token.client_id == ANONYMOUS_PRINCIPAL and (token.claims or {}).get("anonymous") is True:
        return ""
    return token.subject or token.client_id
