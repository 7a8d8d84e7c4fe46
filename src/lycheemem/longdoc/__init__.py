"""Long-document QA over a compressed memory bank (docs/LONGDOC.md).

The public surface for bootstrap, REST, MCP and tests; importing it loads no model,
reads no settings and touches no file.
"""

from lycheemem.longdoc.config import LongDocSettings, load_longdoc_settings
from lycheemem.longdoc.models import AskResult, DocumentInfo, MemoryStep, OpenedChunk
from lycheemem.longdoc.service import METHODS, LongDocService

__all__ = [
    "METHODS",
    "AskResult",
    "DocumentInfo",
    "LongDocService",
    "LongDocSettings",
    "MemoryStep",
    "OpenedChunk",
    "load_longdoc_settings",
]
