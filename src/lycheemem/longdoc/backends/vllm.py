"""The production backend: a vLLM server through its OpenAI-compatible HTTP API."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Sequence
from typing import Any

import httpx

from lycheemem.errors import LLMError
from lycheemem.longdoc.backends.base import Completion, Judgement, PromptedModel, PromptRequest
from lycheemem.longdoc.prompts import render_plain

__all__ = ["VLLMModel", "yes_probability_from_top"]

_TOP_LOGPROBS = 5
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def yes_probability_from_top(top: dict[str, float], text: str) -> float:
    """P(yes) from first-token log-probabilities, renormalised over yes and no.

    Falls back to the generated text (1.0 if it starts with "yes", else 0.0) when
    neither word is among the top tokens.
    """
    yes = sum(math.exp(lp) for token, lp in top.items() if token.strip().lower() == "yes")
    no = sum(math.exp(lp) for token, lp in top.items() if token.strip().lower() == "no")
    if yes + no > 0:
        return yes / (yes + no)
    return 1.0 if text.strip().lower().startswith("yes") else 0.0


class VLLMModel(PromptedModel):
    """Calls ``{base_url}/chat/completions`` or ``{base_url}/completions`` of a vLLM server.

    Promises: at most ``concurrency`` requests in flight (vLLM batches them); greedy
    decoding with an explicit ``max_tokens`` on every request; gate requests ask for
    ``logprobs`` of one token; 408/429/5xx and connection errors are retried
    ``max_retries`` times with backoff, anything else raises ``LLMError``.
    """

    name = "vllm"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str = "",
        api: str = "chat",
        concurrency: int = 16,
        timeout_s: float = 120.0,
        max_retries: int = 2,
        context_tokens: int = 32_768,
        backoff_s: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s, transport=transport
        )
        self.model = model
        self._api = api
        self._limit = asyncio.Semaphore(concurrency)
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        self.context_tokens = context_tokens

    async def generate(self, requests: Sequence[PromptRequest]) -> list[Completion]:
        """Send every request concurrently; texts come back in request order."""
        bodies = await asyncio.gather(*(self._call(r, logprobs=False) for r in requests))
        return [Completion(_text(body, self._api), *_usage(body)) for body in bodies]

    async def yes_probability(self, requests: Sequence[PromptRequest]) -> list[Judgement]:
        """One-token requests with top log-probabilities; P(yes) renormalised over yes/no."""
        bodies = await asyncio.gather(*(self._call(r, logprobs=True) for r in requests))
        out = []
        for body in bodies:
            top = _top_logprobs(body, self._api)
            out.append(
                Judgement(yes_probability_from_top(top, _text(body, self._api)), *_usage(body))
            )
        return out

    def _payload(self, request: PromptRequest, *, logprobs: bool) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "temperature": 0.0,
        }
        if self._api == "chat":
            payload["messages"] = request.messages
            if logprobs:
                payload.update(logprobs=True, top_logprobs=_TOP_LOGPROBS)
        else:
            payload["prompt"] = render_plain(request.messages)
            if logprobs:
                payload["logprobs"] = _TOP_LOGPROBS
        return payload

    async def _call(self, request: PromptRequest, *, logprobs: bool) -> dict[str, Any]:
        path = "/chat/completions" if self._api == "chat" else "/completions"
        payload = self._payload(request, logprobs=logprobs)
        attempt = 0
        while True:
            try:
                async with self._limit:
                    response = await self._client.post(path, json=payload)
                if response.status_code not in _RETRY_STATUS:
                    response.raise_for_status()
                    return dict(response.json())
                problem: str = f"HTTP {response.status_code}"
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                problem = repr(exc)
            except (httpx.HTTPStatusError, ValueError) as exc:
                raise LLMError(f"vLLM request to {path!r} failed: {exc}") from exc
            attempt += 1
            if attempt > self._max_retries:
                raise LLMError(f"vLLM request to {path!r} failed after retries: {problem}")
            await asyncio.sleep(self._backoff_s * 2 ** (attempt - 1) * (1 + random.random()))

    async def close(self) -> None:
        """Close the HTTP client (idempotent)."""
        await self._client.aclose()


def _choice(body: dict[str, Any]) -> dict[str, Any]:
    choices = body.get("choices") or []
    if not choices:
        raise LLMError("vLLM answered without choices")
    return dict(choices[0])


def _text(body: dict[str, Any], api: str) -> str:
    choice = _choice(body)
    if api == "chat":
        return str((choice.get("message") or {}).get("content") or "").strip()
    return str(choice.get("text") or "").strip()


def _usage(body: dict[str, Any]) -> tuple[int, int]:
    usage = body.get("usage") or {}
    return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)


def _top_logprobs(body: dict[str, Any], api: str) -> dict[str, float]:
    logprobs = _choice(body).get("logprobs") or {}
    if api == "chat":
        content = logprobs.get("content") or []
        if not content:
            return {}
        return {
            item["token"]: float(item["logprob"]) for item in content[0].get("top_logprobs", [])
        }
    tops = logprobs.get("top_logprobs") or []
    return {str(k): float(v) for k, v in (tops[0] if tops else {}).items()}
