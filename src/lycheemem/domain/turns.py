"""Preparing a conversation turn for storage: validation, redaction, token count, timestamp."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lycheemem.clock import Clock, format_ts
from lycheemem.domain.models import Turn
from lycheemem.domain.ports import TokenCounter
from lycheemem.domain.text.redact import redact
from lycheemem.errors import PayloadTooLarge, ValidationFailed

__all__ = ["MAX_METADATA_BYTES", "TurnFactory"]

MAX_METADATA_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class TurnFactory:
    """Builds the ``Turn`` every write path stores (REST, MCP, the chat graph alike)."""

    tokens: TokenCounter
    clock: Clock
    redact_secrets: bool

    def build(
        self,
        *,
        user_id: str,
        session_id: str,
        role: str,
        content: str,
        token_count: int = 0,
        turn_id: str | None = None,
        created_at: datetime | None = None,
        speaker: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Turn:
        """Validate and prepare a turn (secrets redacted when configured); the store assigns
        ``turn_index``. ``PayloadTooLarge``/``ValidationFailed`` name the bad field."""
        if metadata is not None:
            size = len(json.dumps(metadata, ensure_ascii=False).encode())
            if size > MAX_METADATA_BYTES:
                raise PayloadTooLarge(
                    f"metadata is {size} bytes; the limit is {MAX_METADATA_BYTES}"
                )
        if role not in ("user", "assistant"):
            raise ValidationFailed(f"role must be 'user' or 'assistant', not {role!r}")
        text = redact(content) if self.redact_secrets else content
        return Turn(
            user_id=user_id,
            session_id=session_id,
            turn_index=-1,
            role=role,  # type: ignore[arg-type]
            content=text,
            created_at=format_ts(created_at) if created_at else self.clock.now_iso(),
            token_count=token_count or self.tokens.count(text),
            speaker=speaker,
            turn_id=turn_id,
            metadata=metadata,
        )
