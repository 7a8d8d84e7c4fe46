"""The one exception tree of LycheeMem.

Domain code raises these; only the edges (``api/errors.py`` for HTTP,
``mcp/tools.py`` for MCP) translate them to status codes or tool errors::

    LycheeMemError                     code             HTTP
    ├── ConfigError                    config_error     (startup only)
    ├── BadRequest                     bad_request      400
    ├── ValidationFailed               validation_error 422
    ├── AuthError                      auth_required    401
    │   ├── InvalidToken               invalid_token    401
    │   └── InvalidCredentials         invalid_credentials 401
    ├── Forbidden                      forbidden        403
    │   └── RegistrationDisabled       registration_disabled 403
    ├── NotFound                       not_found        404
    │   ├── SessionNotFound            session_not_found
    │   ├── RecordNotFound             record_not_found
    │   ├── SkillNotFound              skill_not_found
    │   ├── UsageLogNotFound           usage_log_not_found
    │   └── DocumentNotFound           document_not_found
    ├── Conflict                       conflict         409
    │   ├── UsernameTaken              username_taken
    │   └── DocumentNotReady           document_not_ready
    ├── PayloadTooLarge                payload_too_large 413
    ├── RateLimited                    rate_limited     429
    ├── LLMError                       llm_error        502
    │   └── LLMOutputError             llm_error        502 (unparsable structured output)
    ├── NotReady                       not_ready        503
    └── StorageError                   internal_error   500
        └── EmbeddingMismatch          internal_error   (startup only)
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "BadRequest",
    "ConfigError",
    "Conflict",
    "DocumentNotFound",
    "DocumentNotReady",
    "EmbeddingMismatch",
    "Forbidden",
    "InvalidCredentials",
    "InvalidToken",
    "LLMError",
    "LLMOutputError",
    "LycheeMemError",
    "NotFound",
    "NotReady",
    "PayloadTooLarge",
    "RateLimited",
    "RecordNotFound",
    "RegistrationDisabled",
    "SessionGone",
    "SessionNotFound",
    "SkillNotFound",
    "StorageError",
    "UsageLogNotFound",
    "UsernameTaken",
    "ValidationFailed",
]


class LycheeMemError(Exception):
    """Base of every error LycheeMem raises on purpose.

    ``code`` is the machine-readable error code of the API error body and
    ``status`` the HTTP status the REST edge answers with.
    """

    code = "internal_error"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(LycheeMemError):
    """A setting is invalid; raised at startup and names the setting."""

    code = "config_error"


class BadRequest(LycheeMemError):
    """The request is well-formed but semantically invalid."""

    code = "bad_request"
    status = 400


class ValidationFailed(LycheeMemError):
    """An input violates a schema or limit that the edge could not check."""

    code = "validation_error"
    status = 422


class AuthError(LycheeMemError):
    """The caller must authenticate."""

    code = "auth_required"
    status = 401


class InvalidToken(AuthError):
    """A bearer token was sent but is malformed, expired, forged or orphaned."""

    code = "invalid_token"


class InvalidCredentials(AuthError):
    """Wrong username or password (one message for both)."""

    code = "invalid_credentials"


class Forbidden(LycheeMemError):
    """The caller is known but may not do this."""

    code = "forbidden"
    status = 403


class RegistrationDisabled(Forbidden):
    """Self-registration is switched off."""

    code = "registration_disabled"


class NotFound(LycheeMemError):
    """The resource does not exist in the caller's namespace."""

    code = "not_found"
    status = 404


class SessionNotFound(NotFound):
    """No session with this id in the caller's namespace."""

    code = "session_not_found"

    def __init__(self, session_id: str) -> None:
        super().__init__(f"Session {session_id!r} not found")
        self.session_id = session_id


class SessionGone(SessionNotFound):
    """The session was deleted while a background job on it ran (the job is skipped)."""

    code = "session_gone"


class RecordNotFound(NotFound):
    """No record or composite with this id in the caller's namespace."""

    code = "record_not_found"

    def __init__(self, record_id: str) -> None:
        super().__init__(f"Record {record_id!r} not found")


class SkillNotFound(NotFound):
    """No skill with this id in the caller's namespace."""

    code = "skill_not_found"

    def __init__(self, skill_id: str) -> None:
        super().__init__(f"Skill {skill_id!r} not found")


class UsageLogNotFound(NotFound):
    """No usage log with this id (or for this session) in the caller's namespace."""

    code = "usage_log_not_found"


class DocumentNotFound(NotFound):
    """No long document with this id in the caller's namespace."""

    code = "document_not_found"

    def __init__(self, doc_id: str) -> None:
        super().__init__(f"Document {doc_id!r} not found")


class Conflict(LycheeMemError):
    """The request conflicts with the current state."""

    code = "conflict"
    status = 409


class UsernameTaken(Conflict):
    """Registration with a username that already exists (case-insensitive)."""

    code = "username_taken"


class DocumentNotReady(Conflict):
    """A long document is still being compressed (or failed)."""

    code = "document_not_ready"


class PayloadTooLarge(LycheeMemError):
    """A request body or field is over its size limit."""

    code = "payload_too_large"
    status = 413


class RateLimited(LycheeMemError):
    """Too many attempts; ``retry_after`` seconds until the next one is accepted."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LLMError(LycheeMemError):
    """The configured LLM failed after retries on a path that needs it."""

    code = "llm_error"
    status = 502


class LLMOutputError(LLMError):
    """The LLM answered, but its structured output could not be parsed or validated."""


class NotReady(LycheeMemError):
    """Startup has not finished or storage is unavailable."""

    code = "not_ready"
    status = 503


class StorageError(LycheeMemError):
    """SQLite or LanceDB failed or is in an unexpected state."""


class EmbeddingMismatch(StorageError):
    """The configured embedder does not match the vectors already stored."""
