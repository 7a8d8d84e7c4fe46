"""Token counting: tiktoken ``cl100k_base`` offline, with a deterministic fallback."""

from __future__ import annotations

import importlib.util
import logging
import os
import re
from pathlib import Path
from typing import Any

__all__ = [
    "EstimatingTokenCounter",
    "TiktokenCounter",
    "build_token_counter",
    "bundled_tiktoken_dir",
    "ensure_tiktoken_cache_dir",
]

log = logging.getLogger(__name__)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")


def bundled_tiktoken_dir() -> Path | None:
    """Locate the tiktoken encodings bundled in litellm without importing litellm."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "litellm_core_utils" / "tokenizers"
    return folder if folder.is_dir() else None


def ensure_tiktoken_cache_dir() -> None:
    """Point ``TIKTOKEN_CACHE_DIR`` at litellm's bundled encodings unless already set."""
    if os.environ.get("TIKTOKEN_CACHE_DIR"):
        return
    folder = bundled_tiktoken_dir()
    if folder is not None:
        os.environ["TIKTOKEN_CACHE_DIR"] = str(folder)


class EstimatingTokenCounter:
    """Deterministic estimate: one token per CJK character, ~4 characters per other token."""

    name = "estimate"

    def count(self, text: str) -> int:
        """Return the estimated token count of ``text`` (0 for empty text)."""
        if not text:
            return 0
        cjk = len(_CJK.findall(text))
        rest = len(text) - cjk
        return cjk + (rest + 3) // 4


class TiktokenCounter:
    """Exact ``cl100k_base`` counts."""

    name = "cl100k_base"

    def __init__(self, encoding: Any) -> None:
        self._encoding = encoding

    def count(self, text: str) -> int:
        """Return the number of cl100k_base tokens in ``text``."""
        if not text:
            return 0
        return len(self._encoding.encode(text, disallowed_special=()))


def build_token_counter() -> TiktokenCounter | EstimatingTokenCounter:
    """Load tiktoken from local files only; fall back to the estimator if that fails."""
    ensure_tiktoken_cache_dir()
    try:
        import tiktoken

        return TiktokenCounter(tiktoken.get_encoding("cl100k_base"))
    except Exception as exc:  # any loader failure must degrade, never crash startup
        log.warning("tiktoken unavailable (%s); using the token estimator", exc)
        return EstimatingTokenCounter()
