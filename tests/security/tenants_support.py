"""Helpers of the security suite."""

from __future__ import annotations

import json
from typing import Any

HEADER = {"type": "header", "format": "lycheemem.export", "version": 1}


def import_body(*lines: str | dict[str, Any]) -> bytes:
    """A JSONL import body: the export header, then each line (dicts are encoded)."""
    encoded = [line if isinstance(line, str) else json.dumps(line) for line in lines]
    return "\n".join([json.dumps(HEADER), *encoded]).encode()
