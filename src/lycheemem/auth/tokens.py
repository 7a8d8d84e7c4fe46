"""JWT issue and verification (HS256) and the persisted signing secret."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from lycheemem.domain.text.limits import MAX_SUPPORTED_TS
from lycheemem.errors import InvalidToken

__all__ = ["IssuedToken", "TokenService", "load_or_create_secret"]

ISSUER = "lycheemem"
LEEWAY_S = 30


def load_or_create_secret(configured: str, data_dir: Path) -> str:
    """Return the configured secret, else the one persisted in ``data_dir/jwt_secret``.

    A missing file is created once with 32 random bytes (hex) and mode 0600.
    """
    if configured:
        return configured
    path = data_dir / "jwt_secret"
    if path.exists():
        value = path.read_text(encoding="utf-8").strip()
        if len(value) >= 32:
            return value
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)
    os.chmod(path, 0o600)
    return value


@dataclass(slots=True, frozen=True)
class IssuedToken:
    """A signed token and when it expires."""

    token: str
    expires_at: datetime


class TokenService:
    """Issues and verifies LycheeMem JWTs (claims ``sub, username, ver, iat, exp, iss``).

    ``ver`` is the user's token version when the token was issued; a token whose ``ver``
    is below the stored version has been revoked (a token without it counts as 0).
    """

    def __init__(self, secret: str, *, expire_hours: int) -> None:
        self._secret = secret
        self._lifetime = timedelta(hours=expire_hours)

    def issue(
        self, *, user_id: str, username: str, version: int = 0, now: datetime | None = None
    ) -> IssuedToken:
        """Sign a token for ``user_id`` (token version ``version``) valid for the lifetime."""
        issued = (now or datetime.now(UTC)).replace(microsecond=0)
        expires = issued + self._lifetime
        claims = {
            "sub": user_id,
            "username": username,
            "ver": version,
            "iat": int(issued.timestamp()),
            "exp": int(expires.timestamp()),
            "iss": ISSUER,
        }
        return IssuedToken(jwt.encode(claims, self._secret, algorithm="HS256"), expires)

    def verify(self, token: str) -> dict[str, Any]:
        """Return the claims of a valid token; raise ``InvalidToken`` otherwise."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                issuer=ISSUER,
                leeway=LEEWAY_S,
                options={"require": ["sub", "exp", "iat", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("Token has expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("Invalid token") from exc
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise InvalidToken("Invalid token")
        expires = claims["exp"]
        # A forged or foreign token may carry an expiry no calendar can hold.
        if not isinstance(expires, int) or not 0 < expires < MAX_SUPPORTED_TS.timestamp():
            raise InvalidToken("Invalid token: exp is outside the supported range")
        return claims
