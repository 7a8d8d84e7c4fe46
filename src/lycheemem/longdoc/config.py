"""Settings of long-document QA (env prefix ``LYCHEEMEM_LONGDOC_``), built explicitly."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lycheemem.errors import ConfigError

__all__ = ["LongDocSettings", "load_longdoc_settings"]

Backend = Literal["heuristic", "vllm", "transformers"]


class LongDocSettings(BaseSettings):
    """Every long-document setting, validated when built (never at import)."""

    model_config = SettingsConfigDict(
        env_prefix="LYCHEEMEM_LONGDOC_",
        env_file=None,
        extra="ignore",
        case_sensitive=False,
    )

    # backend
    backend: Backend = "heuristic"
    base_url: str = ""
    model: str = ""
    api_key: str = ""
    api: Literal["chat", "completions"] = "chat"
    model_path: str = ""
    device: str = "auto"
    batch_size: int = Field(8, ge=1, le=256)
    context_tokens: int = Field(32_768, ge=1024)
    concurrency: int = Field(16, ge=1, le=256)
    timeout_s: float = Field(120, gt=0)
    max_retries: int = Field(2, ge=0, le=10)

    # bank
    chunk_tokens: int = Field(4096, ge=128, le=65_536)
    ratio: int = Field(4, ge=1, le=32)
    compress_concurrency: int = Field(8, ge=1, le=256)
    max_doc_bytes: int = Field(8 * 1024 * 1024, ge=1024)

    # question time
    memory_tokens: int = Field(1024, ge=64, le=16_384)
    answer_tokens: int = Field(256, ge=8, le=8192)
    read: Literal["note", "raw"] = "note"
    gate_threshold: float = Field(0.5, ge=0, le=1)
    gate_window: int = Field(8, ge=1, le=256)
    gate_recall_cut: float = Field(0.15, ge=0, le=1)
    gate_min_candidates: int = Field(4, ge=0, le=1024)
    gate_passes: int = Field(4, ge=1, le=8)
    memagent_chunk_tokens: int = Field(5000, ge=128, le=65_536)
    rag_top_k: int = Field(8, ge=1, le=128)

    @model_validator(mode="after")
    def _backend_configured(self) -> LongDocSettings:
        required = {
            "vllm": {
                "LYCHEEMEM_LONGDOC_BASE_URL": self.base_url,
                "LYCHEEMEM_LONGDOC_MODEL": self.model,
            },
            "transformers": {"LYCHEEMEM_LONGDOC_MODEL_PATH": self.model_path},
        }.get(self.backend, {})
        missing = [name for name, value in required.items() if not value.strip()]
        if missing:
            raise ValueError(
                f"LYCHEEMEM_LONGDOC_BACKEND={self.backend} needs {' and '.join(missing)} "
                "(see .env.example)"
            )
        return self


def _problem(err: Any) -> str:
    """One validation error as text; a whole-model check already names its variables."""
    message = str(err["msg"]).removeprefix("Value error, ")
    if not err["loc"]:
        return message
    return f"LYCHEEMEM_LONGDOC_{'_'.join(str(p) for p in err['loc']).upper()}: {message}"


def load_longdoc_settings(
    env_file: str | Path | None = ".env", **overrides: Any
) -> LongDocSettings:
    """Build ``LongDocSettings`` from the environment, ``env_file`` and ``overrides``.

    Raises ``ConfigError`` naming the offending setting(s) when a value is invalid.
    """
    try:
        return LongDocSettings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        problems = "; ".join(_problem(err) for err in exc.errors())
        raise ConfigError(f"invalid long-document settings: {problems}") from exc
