"""Settings: one pydantic-settings class, built explicitly by ``load_settings()``.

Nothing here reads the environment at import time. Precedence: process
environment > ``.env`` in the working directory > defaults. Every field is
listed in ``.env.example`` (a test enforces it).
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lycheemem.errors import ConfigError

__all__ = ["Settings", "load_settings"]

_DEFAULT_CORS = (
    "http://localhost:5173,http://127.0.0.1:5173,http://localhost:4173,http://127.0.0.1:4173"
)


def _alias(name: str, *unprefixed: str) -> Any:
    return AliasChoices(f"LYCHEEMEM_{name}", *unprefixed)


class Settings(BaseSettings):
    """Every LycheeMem setting (env prefix ``LYCHEEMEM_``), validated at startup."""

    model_config = SettingsConfigDict(
        env_prefix="LYCHEEMEM_",
        env_file=None,
        extra="ignore",
        populate_by_name=True,
        case_sensitive=False,
    )

    # server
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    data_dir: Path = Path("./data")
    log_level: str = "INFO"
    log_json: bool = False
    cors_origins: str = _DEFAULT_CORS
    allowed_hosts: str = "127.0.0.1:*,localhost:*,[::1]:*"
    public_url: str = ""
    docs_enabled: bool = True
    demo_dir: str = ""
    max_body_bytes: int = Field(2_097_152, ge=1024)
    max_import_bytes: int = Field(52_428_800, ge=1024)
    # Imports admitted at once server-wide (each may hold a body of max_import_bytes);
    # one more gets 429 with Retry-After before its body is read.
    max_concurrent_imports: int = Field(4, ge=1, le=64)
    shutdown_grace_s: float = Field(10, ge=0)
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    # 0 = one reader thread per CPU core, at least 2 and at most 4: more threads than cores
    # only add GIL hand-offs to a search's concurrent reads (measured: p50 17.2 -> 14.2 ms
    # at 10k records on 2 cores going from 4 readers to 2).
    sqlite_readers: int = Field(0, ge=0, le=64)
    # postgresql://user:password@host:5432/db selects the PostgreSQL backend for everything
    # (many replicas may share it); empty = the embedded SQLite + LanceDB files in data_dir.
    database_url: str = ""
    # Connections each replica keeps open to PostgreSQL at most.
    database_pool_size: int = Field(10, ge=2, le=500)

    # auth
    require_auth: bool = False
    allow_registration: bool = True
    jwt_secret: str = ""
    jwt_expire_hours: int = Field(168, ge=1, le=720)
    metrics_token: str = ""
    # Forwarded headers (X-Forwarded-For) are believed only from these peers: comma-separated
    # addresses or CIDR networks of your reverse proxies. Empty = the TCP peer is the client.
    trusted_proxies: str = ""
    # Failed logins allowed per client address (any usernames) and per username (any
    # addresses) within 15 minutes before exponential backoff (30 s doubling, at most 5 min).
    login_failures_per_address: int = Field(20, ge=1, le=10_000)
    login_failures_per_username: int = Field(10, ge=1, le=10_000)
    # argon2 hashing runs on this many threads; at most password_hash_queue more logins wait,
    # further ones get 429 at once, so a login flood never starves other requests.
    password_hash_concurrency: int = Field(1, ge=1, le=16)
    password_hash_queue: int = Field(32, ge=0, le=10_000)
    # Open MCP sessions per caller (user, or client address for anonymous callers); a caller
    # at the cap loses its least recently used session to the new one.
    mcp_sessions_per_caller: int = Field(64, ge=1, le=10_000)
    # How long a replica trusts its cached copy of an account when checking a token. Within
    # one process a revocation or deletion takes effect at once; another replica sharing the
    # PostgreSQL database sees it after at most this many seconds.
    user_cache_ttl_s: float = Field(5, ge=0, le=3600)

    # llm
    llm_model: str = Field("", validation_alias=_alias("LLM_MODEL", "LLM_MODEL"))
    llm_api_key: str = Field("", validation_alias=_alias("LLM_API_KEY", "LLM_API_KEY"))
    llm_api_base: str = Field("", validation_alias=_alias("LLM_API_BASE", "LLM_API_BASE"))
    llm_timeout_s: float = Field(60, gt=0)
    llm_max_retries: int = Field(2, ge=0, le=10)
    llm_concurrency: int = Field(4, ge=1, le=64)
    llm_temperature: float = Field(0.3, ge=0, le=2)
    llm_max_tokens: int = Field(2048, ge=16)
    planner: Literal["auto", "llm", "heuristic"] = "auto"
    synth_judge: Literal["threshold", "llm"] = "threshold"
    synth_judge_threshold: float = Field(0.6, ge=0, le=1)
    synth_min_relevance: float = Field(0.45, ge=0, le=1)
    synth_max_chars: int = Field(6000, ge=200)
    reflection_rounds: int = Field(0, ge=0, le=2)

    # embeddings
    embedding_model: str = Field(
        "wordllama", validation_alias=_alias("EMBEDDING_MODEL", "EMBEDDING_MODEL")
    )
    embedding_dim: int = Field(0, ge=0, validation_alias=_alias("EMBEDDING_DIM", "EMBEDDING_DIM"))
    embedding_api_key: str = Field(
        "", validation_alias=_alias("EMBEDDING_API_KEY", "EMBEDDING_API_KEY")
    )
    embedding_api_base: str = Field(
        "", validation_alias=_alias("EMBEDDING_API_BASE", "EMBEDDING_API_BASE")
    )
    embedding_batch_size: int = Field(64, ge=1, le=2048)
    embedding_cache_size: int = Field(20_000, ge=0)

    # working memory
    wm_max_tokens: int = Field(128_000, ge=256)
    wm_warn_threshold: float = Field(0.7, gt=0, lt=1)
    wm_block_threshold: float = Field(0.9, gt=0, le=1)
    wm_keep_recent_turns: int = Field(8, ge=1)
    wm_min_recent_turns: int = Field(4, ge=1)
    wm_summary_max_tokens: int = Field(2000, ge=50)

    # search and scoring
    search_recall_min: int = Field(30, ge=1)
    score_alpha: float = Field(0.25, ge=0)
    score_beta: float = Field(0.25, ge=0)
    score_kappa: float = Field(0.15, ge=0)
    score_gamma: float = Field(0.15, ge=0)
    score_delta: float = Field(0.10, ge=0)
    score_eta: float = Field(0.10, ge=0)
    score_lambda: float = Field(0.10, ge=0)
    score_lexical_weight: float = Field(0.9, ge=0, le=1)
    score_recency_half_life_days: float = Field(30, gt=0)
    score_token_cost_chars: int = Field(2000, ge=1)
    composite_bonus: float = Field(0.02, ge=0)
    parent_margin: float = Field(0.05, ge=0)
    skill_top_k: int = Field(3, ge=1, le=20)
    skill_reuse_threshold: float = Field(0.85, ge=0, le=1)
    vector_search: Literal["auto", "exact", "ann"] = "auto"
    # RAM budget of the vector cache, all tenants together (least recently used evicted).
    vector_cache_mb: int = Field(1024, ge=1)
    # From this many rows a tenant's vectors are searched through an in-process IVF whose
    # full rows are memory-mapped from disk, instead of an exact in-RAM matrix ("auto").
    ann_min_rows: int = Field(50_000, ge=1)
    extra_tool_names: str = ""

    # consolidation
    auto_consolidate: bool = True
    consolidate_debounce_s: float = Field(5, ge=0)
    consolidate_batch_turns: int = Field(24, ge=1, le=200)
    consolidate_batch_chars: int = Field(12_000, ge=500)
    consolidate_context_turns: int = Field(4, ge=0, le=50)
    dedup_threshold: float = Field(0.92, ge=0, le=1)
    fusion_similarity: float = Field(0.75, ge=0, le=1)
    fusion_max_group: int = Field(8, ge=2, le=32)
    hierarchy_max_levels: int = Field(3, ge=1, le=6)
    job_max_attempts: int = Field(3, ge=1, le=20)
    worker_concurrency: int = Field(1, ge=1, le=16)
    # A running job's lease, renewed while it runs: when a replica dies mid-job, another
    # replica takes the job over once the lease has run out.
    job_lease_s: float = Field(120, ge=2, le=3600)
    sync_consolidate_timeout_s: float = Field(600, gt=0)
    redact_secrets: bool = True
    # Re-embed rows a crash left without vectors and drop vectors whose row is gone: at
    # startup, then every this many seconds (0 = at startup only).
    reconcile_interval_s: float = Field(900, ge=0)
    timezone: str = "UTC"

    @field_validator("jwt_secret")
    @classmethod
    def _secret_long_enough(cls, value: str) -> str:
        if value and len(value) < 32:
            raise ValueError("LYCHEEMEM_JWT_SECRET must be at least 32 characters")
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must start with postgresql:// (or be empty for the embedded store)")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_parse(cls, value: str) -> str:
        import ipaddress

        for part in _split(value):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError as exc:
                raise ValueError(f"not an address or network: {part!r}") from exc
        return value

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> Settings:
        if self.wm_warn_threshold >= self.wm_block_threshold:
            raise ValueError(
                "LYCHEEMEM_WM_WARN_THRESHOLD must be below LYCHEEMEM_WM_BLOCK_THRESHOLD"
            )
        if self.wm_min_recent_turns > self.wm_keep_recent_turns:
            raise ValueError("LYCHEEMEM_WM_MIN_RECENT_TURNS must not exceed KEEP_RECENT_TURNS")
        return self

    # derived views -------------------------------------------------------
    @property
    def llm_enabled(self) -> bool:
        """True when a chat model is configured (otherwise memory-only mode)."""
        return bool(self.llm_model.strip())

    @property
    def mode(self) -> str:
        """``llm`` or ``memory_only``."""
        return "llm" if self.llm_enabled else "memory_only"

    @property
    def cors_origin_list(self) -> list[str]:
        """CORS origins as a list."""
        return _split(self.cors_origins)

    @property
    def allowed_host_list(self) -> list[str]:
        """Host allow-list for ``/mcp`` as a list."""
        return _split(self.allowed_hosts)

    @property
    def trusted_proxy_networks(self) -> list[IPv4Network | IPv6Network]:
        """``LYCHEEMEM_TRUSTED_PROXIES`` as networks (a bare address is a /32 or /128)."""
        return [ip_network(part, strict=False) for part in _split(self.trusted_proxies)]

    @property
    def extra_tool_list(self) -> list[str]:
        """Extra tool names for the heuristic vocabulary."""
        return _split(self.extra_tool_names)

    @property
    def backend(self) -> Literal["embedded", "postgres"]:
        """``postgres`` when ``LYCHEEMEM_DATABASE_URL`` is set, else ``embedded``."""
        return "postgres" if self.database_url else "embedded"

    @property
    def db_path(self) -> Path:
        """The SQLite file."""
        return self.data_dir / "lycheemem.db"

    @property
    def lance_dir(self) -> Path:
        """The LanceDB directory."""
        return self.data_dir / "lance"


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _problem(err: Any) -> str:
    """One validation error as text; a whole-model check already names its variables."""
    message = str(err["msg"]).removeprefix("Value error, ")
    if not err["loc"]:
        return message
    return f"LYCHEEMEM_{'_'.join(str(p) for p in err['loc']).upper()}: {message}"


def load_settings(env_file: str | Path | None = ".env", **overrides: Any) -> Settings:
    """Build ``Settings`` from the environment, ``env_file`` and ``overrides``.

    Raises ``ConfigError`` naming the offending setting(s) when a value is invalid.
    """
    try:
        return Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        problems = "; ".join(_problem(err) for err in exc.errors())
        raise ConfigError(f"invalid settings: {problems}") from exc
