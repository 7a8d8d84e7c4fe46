"""Behaviour shared by every LLM implementation: usage accounting and JSON calls."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from lycheemem.domain.ports import ChatMessage, LLMResponse, LLMUsage
from lycheemem.domain.usage import UsageCollector, collect_usage, usage_collector
from lycheemem.errors import LLMOutputError
from lycheemem.providers.llm.jsonparse import parse_model

__all__ = ["BaseLLM", "UsageCollector", "collect_usage", "usage_collector"]

ModelT = TypeVar("ModelT", bound=BaseModel)


class BaseLLM:
    """Implements ``complete_json`` on top of ``complete`` and records usage.

    Subclasses implement ``complete`` and ``stream`` and call ``_record``.
    """

    model: str = ""
    observer: Callable[[LLMUsage, str], None] | None = None
    """Called with ``(usage, "ok"|"error")`` after every call (metrics)."""

    def __init__(self) -> None:
        self.usage_log: list[LLMUsage] = []
        self.failures = 0

    def _record_failure(self, purpose: str) -> None:
        self.failures += 1
        if self.observer is not None:
            self.observer(LLMUsage(purpose=purpose, model=self.model), "error")

    def _record(self, usage: LLMUsage) -> None:
        if self.observer is not None:
            self.observer(usage, "ok")
        self.usage_log.append(usage)
        if len(self.usage_log) > 10_000:
            del self.usage_log[:5_000]
        collector = usage_collector.get()
        if collector is not None:
            collector.calls.append(usage)

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        purpose: str,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> LLMResponse:
        """Return one completion; implemented by subclasses."""
        raise NotImplementedError

    async def complete_json(
        self,
        messages: Sequence[ChatMessage],
        schema: type[ModelT],
        *,
        purpose: str,
        max_tokens: int | None = None,
        reask_on_invalid: bool = False,
    ) -> tuple[ModelT, LLMUsage]:
        """Ask for JSON matching ``schema`` at temperature 0 and validate the answer.

        With ``reask_on_invalid`` an invalid answer is sent back once with the
        validation error; otherwise (and on the second failure) ``LLMOutputError``.
        """
        prompt = list(messages)
        prompt[0] = _with_schema_hint(prompt[0], schema)
        response = await self.complete(
            prompt, purpose=purpose, temperature=0.0, max_tokens=max_tokens
        )
        try:
            return parse_model(response.text, schema), response.usage
        except LLMOutputError as exc:
            if not reask_on_invalid:
                raise
            prompt += [
                {"role": "assistant", "content": response.text},
                {
                    "role": "user",
                    "content": f"That output was invalid ({exc.message}). "
                    "Reply again with only the corrected JSON object.",
                },
            ]
            retry = await self.complete(
                prompt, purpose=purpose, temperature=0.0, max_tokens=max_tokens
            )
            return parse_model(retry.text, schema), retry.usage


def _compact_schema(node: Any) -> Any:
    """The JSON schema without ``title`` keys, which cost prompt tokens and say nothing."""
    if isinstance(node, dict):
        return {k: _compact_schema(v) for k, v in node.items() if k != "title"}
    if isinstance(node, list):
        return [_compact_schema(v) for v in node]
    return node


def _with_schema_hint(message: ChatMessage, schema: type[BaseModel]) -> ChatMessage:
    hint = json.dumps(_compact_schema(schema.model_json_schema()), separators=(",", ":"))
    content = (
        f"{message['content']}\n\nReply with one JSON object matching this JSON schema:\n{hint}"
    )
    return {"role": message["role"], "content": content}
