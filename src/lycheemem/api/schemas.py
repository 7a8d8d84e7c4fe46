"""Request and response models of the REST API, named by role."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from lycheemem.domain.text.limits import MAX_OFFSET, check_json_value, supported_utc

__all__ = [
    "AccountDelete",
    "LoginCreate",
    "MePublic",
    "SessionId",
    "SessionMetaUpdate",
    "TokenPublic",
    "TurnCreate",
    "UserCreate",
]

SESSION_ID_PATTERN = r"^[^\s/\\?#%\x00-\x1f\x7f]{1,128}$"
SessionId = Annotated[str, StringConstraints(pattern=SESSION_ID_PATTERN)]


def _as_utc(value: datetime | None) -> datetime | None:
    return None if value is None else supported_utc(value)


# Outside the supported range (memory/limits.py) a timestamp is a 422 naming its field.
UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]
# Client JSON objects: finite numbers only, nested at most MAX_JSON_DEPTH levels.
JsonObject = Annotated[dict[str, Any], AfterValidator(check_json_value)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


class _Request(BaseModel):
    """Base of request bodies: strings trimmed, unknown fields ignored."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")


# Passwords are kept exactly as typed: surrounding spaces are part of the secret.
Password = Annotated[str, StringConstraints(strip_whitespace=False)]


class UserCreate(_Request):
    """Body of ``POST /auth/register``; the password is kept as typed (no trimming)."""

    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: Password = Field(min_length=8, max_length=128)
    display_name: str | None = Field(default=None, max_length=64)


class LoginCreate(_Request):
    """Body of ``POST /auth/login``; the password is compared as typed."""

    username: str = Field(min_length=1, max_length=128)
    password: Password = Field(min_length=1, max_length=128)


class AccountDelete(_Request):
    """Body of ``DELETE /auth/me``: the account's password, as confirmation."""

    password: Password = Field(min_length=1, max_length=128)


class TokenPublic(BaseModel):
    """A login or registration result."""

    user_id: str
    username: str
    display_name: str
    token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: str


class MePublic(BaseModel):
    """``GET /auth/me``."""

    user_id: str
    username: str
    display_name: str
    created_at: str
    token_expires_at: str | None


class TurnCreate(_Request):
    """Body of ``POST /memory/append-turn``."""

    session_id: SessionId
    role: Literal["user", "assistant"]
    content: str = Field(min_length=1, max_length=100_000)
    token_count: int = Field(default=0, ge=0, le=10_000_000)
    turn_id: str | None = Field(default=None, min_length=1, max_length=128)
    created_at: UtcDatetime | None = None
    speaker: str | None = Field(default=None, max_length=64)
    metadata: JsonObject | None = None


class TurnAppended(BaseModel):
    """Response of ``POST /memory/append-turn``."""

    status: Literal["appended", "duplicate"]
    session_id: str
    turn_count: int
    turn_index: int
    turn_id: str | None


class SessionMetaUpdate(_Request):
    """Body of ``PATCH /memory/session/{id}/meta``; unsent fields stay unchanged."""

    topic: str | None = Field(default=None, max_length=200)
    tags: list[Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)]] | None = (
        Field(default=None, max_length=20)
    )


class SearchCreate(_Request):
    """Body of ``POST /memory/search``."""

    query: str = Field(min_length=1, max_length=1000)
    top_k: int = Field(default=5, ge=1, le=50)
    session_id: SessionId | None = None
    include_graph: bool = True
    include_skills: bool = True
    reference_time: UtcDatetime | None = None


class SmartSearchCreate(SearchCreate):
    """Body of ``POST /memory/smart-search``."""

    synthesize: bool = True
    mode: Literal["raw", "full", "compact"] = "compact"


class ConsolidateCreate(_Request):
    """Body of ``POST /memory/consolidate``."""

    session_id: SessionId
    retrieved_context: str = Field(default="", max_length=200_000)
    background: bool = True
    force: bool = False


class ChatRequest(_Request):
    """Body of ``POST /chat`` and ``POST /chat/complete``."""

    session_id: SessionId
    message: str = Field(min_length=1, max_length=100_000)


class SynthesizeCreate(_Request):
    """Body of ``POST /memory/synthesize``."""

    user_query: str = Field(min_length=1, max_length=100_000)
    semantic_results: list[JsonObject] = Field(default_factory=list, max_length=50)
    graph_results: list[JsonObject] = Field(default_factory=list, max_length=50)
    skill_results: list[JsonObject] = Field(default_factory=list, max_length=50)


class SkillReusePlanItem(BaseModel):
    """One skill the reasoner should follow (API.md §2.3)."""

    model_config = ConfigDict(extra="ignore")

    skill_id: str = Field(min_length=1, max_length=128)
    intent: str = Field(default="", max_length=2000)
    doc_markdown: str = Field(default="", max_length=20_000)
    score: float = 0.0
    conditions: str = Field(default="", max_length=4000)


class ReasonCreate(_Request):
    """Body of ``POST /memory/reason``."""

    session_id: SessionId
    user_query: str = Field(min_length=1, max_length=100_000)
    background_context: str = Field(default="", max_length=200_000)
    skill_reuse_plan: list[SkillReusePlanItem] = Field(default_factory=list, max_length=10)
    retrieved_skills: list[JsonObject] = Field(default_factory=list, max_length=50)
    append_to_session: bool = True


class FeedbackCreate(_Request):
    """Body of ``POST /memory/feedback``."""

    usage_log_id: str | None = Field(default=None, min_length=1, max_length=64)
    session_id: SessionId | None = None
    feedback: Literal["positive", "negative", "correction"]
    record_ids: list[Annotated[str, StringConstraints(min_length=1, max_length=128)]] | None = (
        Field(default=None, max_length=50)
    )
    note: str | None = Field(default=None, max_length=1000)
