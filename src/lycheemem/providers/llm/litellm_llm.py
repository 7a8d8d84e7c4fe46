"""The production LLM: any chat model litellm supports, called asynchronously."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from lycheemem.domain.ports import ChatMessage, LLMResponse, LLMUsage
from lycheemem.errors import LLMError
from lycheemem.providers.llm.base import BaseLLM

__all__ = ["LiteLLM", "import_litellm"]


def import_litellm() -> Any:
    """Import litellm without network side effects (local cost map, no telemetry)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    litellm.callbacks = []
    litellm.success_callback = []
    litellm.failure_callback = []
    return litellm


def _is_retryable(exc: BaseException, litellm: Any) -> bool:
    retryable = (
        litellm.Timeout,
        litellm.RateLimitError,
        litellm.APIConnectionError,
        litellm.InternalServerError,
        litellm.ServiceUnavailableError,
        asyncio.TimeoutError,
        ConnectionError,
    )
    if isinstance(exc, retryable):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and (status == 429 or status >= 500)


class LiteLLM(BaseLLM):
    """Chat completions through ``litellm.acompletion``.

    Promises: at most ``concurrency`` calls in flight; timeouts, 429, 5xx and
    connection errors are retried ``max_retries`` times with exponential
    backoff and jitter; anything else (or exhaustion) raises ``LLMError``.
    """

    def __init__(
        self,
        model: str,
        *,
        api_key: str = "",
        api_base: str = "",
        timeout_s: float = 60.0,
        max_retries: int = 2,
        concurrency: int = 4,
        temperature: float = 0.3,
        max_tokens: int = 2048,
        backoff_base_s: float = 0.5,
    ) -> None:
        super().__init__()
        self.model = model
        self._api_key = api_key
        self._api_base = api_base
        self._timeout_s = timeout_s
        self._max_retries = max_retries
        self._semaphore = asyncio.Semaphore(concurrency)
        self._temperature = temperature
        self._max_tokens = max_tokens
        self._backoff_base_s = backoff_base_s
        self._litellm = import_litellm()

    def _kwargs(
        self, messages: Sequence[ChatMessage], temperature: float | None, max_tokens: int | None
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": list(messages),
            "temperature": self._temperature if temperature is None else temperature,
            "max_tokens": max_tokens or self._max_tokens,
            "timeout": self._timeout_s,
            "num_retries": 0,
        }
        if self._api_key:
            kwargs["api_key"] = self._api_key
        if self._api_base:
            kwargs["api_base"] = self._api_base
        return kwargs

    async def _backoff(self, attempt: int) -> None:
        delay = self._backoff_base_s * (2**attempt)
        await asyncio.sleep(delay * (0.5 + random.random()))

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        purpose: str,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> LLMResponse:
        """Return one completion, retrying transient failures."""
        kwargs = self._kwargs(messages, temperature, max_tokens)
        for attempt in range(self._max_retries + 1):
            started = time.perf_counter()
            try:
                async with self._semaphore:
                    response = await self._litellm.acompletion(**kwargs)
            except Exception as exc:  # provider errors come in many types
                if attempt < self._max_retries and _is_retryable(exc, self._litellm):
                    await self._backoff(attempt)
                    continue
                self._record_failure(purpose)
                raise LLMError(f"{type(exc).__name__}: {str(exc)[:300]}") from exc
            return self._response(response, purpose, started)
        raise LLMError("LLM retries exhausted")  # pragma: no cover - loop always returns

    def _response(self, response: Any, purpose: str, started: float) -> LLMResponse:
        text = response.choices[0].message.content or ""
        usage = getattr(response, "usage", None)
        record = LLMUsage(
            purpose=purpose,
            model=self.model,
            input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            ms=(time.perf_counter() - started) * 1000,
        )
        self._record(record)
        return LLMResponse(text=text, usage=record)

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        purpose: str,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> AsyncIterator[str]:
        """Yield text deltas; connection failures before the first delta are retried."""
        kwargs = self._kwargs(messages, temperature, max_tokens)
        kwargs.update(stream=True, stream_options={"include_usage": True})
        started = time.perf_counter()
        record = LLMUsage(purpose=purpose, model=self.model)
        async with self._semaphore:
            stream = await self._open_stream(kwargs, purpose)
            try:
                async for chunk in stream:
                    usage = getattr(chunk, "usage", None)
                    if usage:
                        record.input_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
                        record.output_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
                    choices = getattr(chunk, "choices", None) or []
                    delta = getattr(choices[0].delta, "content", None) if choices else None
                    if delta:
                        yield delta
            except Exception as exc:  # a broken stream mid-answer is fatal for this call
                self._record_failure(purpose)
                raise LLMError(f"stream failed: {type(exc).__name__}: {str(exc)[:300]}") from exc
        record.ms = (time.perf_counter() - started) * 1000
        self._record(record)

    async def _open_stream(self, kwargs: dict[str, Any], purpose: str = "") -> Any:
        for attempt in range(self._max_retries + 1):
            try:
                return await self._litellm.acompletion(**kwargs)
            except Exception as exc:  # provider errors come in many types
                if attempt < self._max_retries and _is_retryable(exc, self._litellm):
                    await self._backoff(attempt)
                    continue
                self._record_failure(purpose)
                raise LLMError(f"{type(exc).__name__}: {str(exc)[:300]}") from exc
        raise LLMError("LLM retries exhausted")  # pragma: no cover
