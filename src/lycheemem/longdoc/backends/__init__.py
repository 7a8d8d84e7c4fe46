"""Model backends of long-document QA behind the one ``LongDocModel`` interface."""

from lycheemem.longdoc.backends.base import Completion, Judgement, LongDocModel, PromptedModel

__all__ = ["Completion", "Judgement", "LongDocModel", "PromptedModel"]
