"""Accounts: the auth service built on the ``UserStore`` port."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from lycheemem.auth.passwords import HashingPool, hash_password
from lycheemem.auth.ratelimit import LoginRateLimiter
from lycheemem.auth.tokens import IssuedToken, TokenService
from lycheemem.clock import Clock, format_ts
from lycheemem.domain.models import User
from lycheemem.domain.ports import UserStore
from lycheemem.errors import (
    AuthError,
    Forbidden,
    InvalidCredentials,
    InvalidToken,
    RateLimited,
    RegistrationDisabled,
)

__all__ = ["ANONYMOUS", "AuthService", "Caller", "UserStore"]

# Default for LYCHEEMEM_USER_CACHE_TTL_S: how stale a cached account may be (other replicas).
USER_CACHE_TTL_S = 5.0
# Verified once per process: keeps timing of unknown-user logins close to wrong-password ones.
_DUMMY_HASH = hash_password("lycheemem-timing-equaliser")


@dataclass(slots=True, frozen=True)
class Caller:
    """Who is calling: a registered user or the anonymous namespace (``user_id == ""``)."""

    user_id: str
    username: str = ""
    display_name: str = ""
    token_expires_at: datetime | None = None

    @property
    def is_anonymous(self) -> bool:
        """True for the anonymous namespace."""
        return self.user_id == ""


ANONYMOUS = Caller(user_id="")


@dataclass(slots=True, frozen=True)
class Session:
    """A freshly issued login: the user and their token."""

    user: User
    token: IssuedToken


class AuthService:
    """Registration, login and bearer-token resolution shared by REST and MCP."""

    def __init__(
        self,
        *,
        users: UserStore,
        tokens: TokenService,
        require_auth: bool,
        allow_registration: bool,
        clock: Clock | None = None,
        limiter: LoginRateLimiter | None = None,
        hashing: HashingPool | None = None,
        cache_ttl_s: float = USER_CACHE_TTL_S,
    ) -> None:
        self._users = users
        self.hashing = hashing or HashingPool(concurrency=1, queue=32)
        self.tokens = tokens
        self.require_auth = require_auth
        self._allow_registration = allow_registration
        self._clock = clock or Clock()
        self._limiter = limiter or LoginRateLimiter()
        self._cache: dict[str, tuple[float, User]] = {}
        # Other replicas change accounts behind this cache: the TTL bounds how long they may.
        self._cache_ttl_s = cache_ttl_s

    async def register(self, *, username: str, password: str, display_name: str | None) -> Session:
        """Create an account and return it with a token; ``UsernameTaken`` on duplicates."""
        if not self._allow_registration:
            raise RegistrationDisabled("Registration is disabled on this server")
        user = User(
            user_id=uuid.uuid4().hex,
            username=username,
            display_name=display_name or username,
            created_at=self._clock.now_iso(),
            password_hash=await self.hashing.hash(password),
        )
        await self._users.create(user)
        return Session(user, self._issue(user))

    async def login(self, *, username: str, password: str, client: str) -> Session:
        """Check credentials, rate limited per client address and per username.

        Unknown users cost one verification of a dummy hash, like a wrong password.
        """
        retry_after = self._limiter.retry_after(username, client)
        if retry_after:
            raise RateLimited("Too many failed logins; try again later", retry_after)
        user = await self._users.by_username(username)
        ok = await self.hashing.verify(user.password_hash if user else _DUMMY_HASH, password)
        if not ok or user is None:
            self._limiter.failed(username, client)
            raise InvalidCredentials("Invalid username or password")
        self._limiter.succeeded(username, client)
        return Session(user, self._issue(user))

    def _issue(self, user: User) -> IssuedToken:
        return self.tokens.issue(
            user_id=user.user_id, username=user.username, version=user.token_version
        )

    async def caller_from_header(self, authorization: str | None) -> Caller:
        """Resolve an ``Authorization`` header value to a caller (API.md §1.2)."""
        if authorization is None:
            if self.require_auth:
                raise AuthError("Authentication required")
            return ANONYMOUS
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken("Malformed Authorization header")
        return await self.caller_from_token(token.strip())

    async def caller_from_token(self, token: str) -> Caller:
        """Verify a JWT and check its user still exists; ``InvalidToken`` otherwise."""
        claims = self.tokens.verify(token)
        user = await self._cached_user(claims["sub"])
        if user is None:
            raise InvalidToken("The user of this token no longer exists")
        if claims.get("ver", 0) != user.token_version:
            raise InvalidToken("This token has been revoked")
        expires = datetime.fromtimestamp(int(claims["exp"]), tz=self._clock.now().tzinfo)
        return Caller(user.user_id, user.username, user.display_name, expires)

    async def _cached_user(self, user_id: str) -> User | None:
        hit = self._cache.get(user_id)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self._cache_ttl_s:
            return hit[1]
        user = await self._users.by_id(user_id)
        if user is not None:
            self._cache[user_id] = (now, user)
            if len(self._cache) > 50_000:
                self._cache.clear()
        return user

    def forget_user(self, user_id: str) -> None:
        """Drop a cached user so the next request reads the account again."""
        self._cache.pop(user_id, None)

    async def revoke_tokens(self, user_id: str) -> None:
        """Invalidate every token issued so far to ``user_id``, effective immediately."""
        await self._users.bump_token_version(user_id)
        self.forget_user(user_id)

    async def confirm_password(self, user_id: str, password: str) -> User:
        """The account of ``user_id`` if ``password`` is its password; ``Forbidden`` if not."""
        user = await self._users.by_id(user_id)
        if user is None:
            raise InvalidToken("The user of this token no longer exists")
        if not await self.hashing.verify(user.password_hash, password):
            raise Forbidden("The password does not match")
        return user

    async def delete_user(self, user_id: str) -> None:
        """Revoke the account's tokens and delete its row (its data is deleted by the caller)."""
        await self.revoke_tokens(user_id)
        await self._users.delete(user_id)
        self.forget_user(user_id)

    def close(self) -> None:
        """Stop the hashing threads."""
        self.hashing.close()

    async def user(self, user_id: str) -> User | None:
        """The stored account of ``user_id``."""
        return await self._users.by_id(user_id)


def expires_iso(token: IssuedToken) -> str:
    """The token's expiry in the API timestamp format."""
    return format_ts(token.expires_at)
