"""Prompt texts of the answer path, stored as Markdown files next to this module."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

__all__ = ["load_prompt"]


@lru_cache(maxsize=16)
def load_prompt(name: str) -> str:
    """The text of ``<name>.md`` in this package (read once, then cached)."""
    return resources.files(__name__).joinpath(f"{name}.md").read_text(encoding="utf-8").strip()
