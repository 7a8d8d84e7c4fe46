"""Build the configured ``LongDocModel``."""

from __future__ import annotations

from lycheemem.domain.ports import TokenCounter
from lycheemem.longdoc.backends.base import LongDocModel
from lycheemem.longdoc.config import LongDocSettings

__all__ = ["build_model"]


def build_model(settings: LongDocSettings, counter: TokenCounter) -> LongDocModel:
    """The backend named by ``settings.backend``; nothing is loaded or connected yet."""
    if settings.backend == "vllm":
        from lycheemem.longdoc.backends.vllm import VLLMModel

        return VLLMModel(
            base_url=settings.base_url,
            model=settings.model,
            api_key=settings.api_key,
            api=settings.api,
            concurrency=settings.concurrency,
            timeout_s=settings.timeout_s,
            max_retries=settings.max_retries,
            context_tokens=settings.context_tokens,
        )
    if settings.backend == "transformers":
        from lycheemem.longdoc.backends.transformers_backend import TransformersModel

        return TransformersModel(
            settings.model_path,
            device=settings.device,
            batch_size=settings.batch_size,
            context_tokens=settings.context_tokens,
        )
    from lycheemem.longdoc.backends.heuristic import HeuristicModel

    return HeuristicModel(counter, context_tokens=settings.context_tokens)
