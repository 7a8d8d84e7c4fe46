"""What a consolidation job reports, its settings, and which failures are worth a retry."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from lycheemem.errors import LLMError, StorageError

__all__ = ["ConsolidationSettings", "JobReport", "is_transient"]


@dataclass(slots=True, frozen=True)
class ConsolidationSettings:
    """The consolidation knobs of INTEGRATIONS.md §2."""

    batch_turns: int = 24
    batch_chars: int = 12_000
    context_turns: int = 4
    dedup_threshold: float = 0.92
    fusion_similarity: float = 0.75
    fusion_max_group: int = 8
    max_levels: int = 3
    timezone: str = "UTC"
    extra_tools: tuple[str, ...] = ()


@dataclass
class JobReport:
    """The ConsolidationResult of API.md §2.6, accumulated across batches."""

    job_id: str
    session_id: str
    records_added: int = 0
    records_merged: int = 0
    records_updated: int = 0
    records_expired: int = 0
    composites_created: int = 0
    composites_expired: int = 0
    skills_added: int = 0
    turns_consolidated: int = 0
    watermark: int = 0
    has_novelty: bool | None = None
    llm_calls: int = 0
    steps: list[dict[str, Any]] = field(default_factory=list)
    skipped_turns: list[dict[str, Any]] = field(default_factory=list)

    def as_result(self, status: str, **extra: Any) -> dict[str, Any]:
        """The API shape of this report with ``status``."""
        result = {
            "status": status,
            "job_id": self.job_id,
            "session_id": self.session_id,
            "entities_added": self.records_added,
            "facts_added": self.composites_created,
            "skills_added": self.skills_added,
            "records_added": self.records_added,
            "records_merged": self.records_merged,
            "records_updated": self.records_updated,
            "records_expired": self.records_expired,
            "composites_created": self.composites_created,
            "composites_expired": self.composites_expired,
            "turns_consolidated": self.turns_consolidated,
            "watermark": self.watermark,
            "has_novelty": self.has_novelty,
            "skipped_reason": None,
            "steps": self.steps,
            "llm_calls": self.llm_calls,
            "skipped_turns": self.skipped_turns,
            "error": None,
        }
        result.update(extra)
        return result


def is_transient(exc: BaseException) -> bool:
    """Failures that another attempt may not meet: provider, storage and I/O trouble.

    Anything else (a date no calendar holds, a value the code cannot handle) fails the
    same way every time, so on a job's last attempt the offending turn is skipped.
    """
    return isinstance(exc, LLMError | StorageError | sqlite3.Error | OSError | TimeoutError)
