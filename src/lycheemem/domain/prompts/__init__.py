"""Prompt texts of the answer path, stored as Markdown files next to this module."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

__all__ = ["MEMORY_ONLY_HEADER", "load_prompt"]

MEMORY_ONLY_HEADER = (
    "[memory-only mode: no language model is configured; "
    "below are stored memories, not a generated answer]"
)
"""First line of every memory-only reply; consolidation skips turns starting with it."""


@lru_cache(maxsize=16)
def load_prompt(name: str) -> str:
    """The text of ``<name>.md`` in this package (read once, then cached)."""
    return resources.files(__name__).joinpath(f"{name}.md").read_text(encoding="utf-8").strip()
