"""Helpers shared by the long-document tests (imported by module name)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from lycheemem.domain.ports import TokenCounter
from lycheemem.longdoc.backends.base import Completion
from lycheemem.longdoc.backends.heuristic import HeuristicModel
from lycheemem.longdoc.config import LongDocSettings, load_longdoc_settings


class BlockedCompressionModel(HeuristicModel):
    """The heuristic model whose compression waits until ``release`` is set."""

    def __init__(self, counter: TokenCounter) -> None:
        super().__init__(counter)
        self.release = asyncio.Event()

    async def compress(
        self, texts: Sequence[str], *, max_tokens: Sequence[int]
    ) -> list[Completion]:
        """Wait for the release, then compress like the heuristic model."""
        await self.release.wait()
        return await super().compress(texts, max_tokens=max_tokens)


def make_settings(**overrides: Any) -> LongDocSettings:
    """Heuristic-backend settings that ignore ``.env`` files."""
    return load_longdoc_settings(env_file=None, **overrides)


def filler_paragraph(seed: int) -> str:
    """A deterministic paragraph of ordinary prose without rare names."""
    words = ("river", "council", "market", "bridge", "weather", "library", "school", "harbour")
    verbs = ("reviewed", "repaired", "discussed", "measured", "described", "inspected")
    sentences = []
    for step in range(6):
        word = words[(seed + step) % len(words)]
        verb = verbs[(seed * 3 + step) % len(verbs)]
        sentences.append(f"The {word} staff {verb} the old {words[step % 8]} plans again.")
    return " ".join(sentences)


def planted_document(paragraphs: int, facts: dict[int, str]) -> str:
    """Filler paragraphs with ``facts[i]`` appended to paragraph ``i``."""
    out = []
    for index in range(paragraphs):
        text = filler_paragraph(index)
        if index in facts:
            text += " " + facts[index]
        out.append(text)
    return "\n\n".join(out)
