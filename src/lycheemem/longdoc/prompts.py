"""Prompts of the real-model backends.

Every prompt starts with fixed instructions and then the question, so the calls of
one question share a long prefix that vLLM's prefix cache reuses; the part that
varies (memory, note, chunk) comes last.
"""

from __future__ import annotations

from lycheemem.domain.ports import ChatMessage

__all__ = [
    "answer_messages",
    "compress_messages",
    "gate_messages",
    "memory_messages",
    "render_plain",
]

_COMPRESS = (
    "You compress passages of a long document into dense notes. Keep every named entity, "
    "number, date, quantity and relation between entities; drop style, repetition and filler. "
    "Write plain sentences, no preamble."
)
_GATE = (
    "You decide whether a passage of a long document can help answer a question, given what "
    "the working memory already holds. A passage helps if it holds a fact the answer needs, or "
    "a fact about something the memory or question mentions. Reply with exactly yes or no."
)
_MEMORY = (
    "You keep a small working memory while reading a long document to answer a question. "
    "Rewrite the memory so that it keeps every fact useful for the question, including facts "
    "that connect entities in the question to other entities. Drop irrelevant details. Write "
    "only the new memory."
)
_ANSWER = (
    "Answer the question from the information given. Be brief: give the answer itself, then "
    "at most one sentence of support."
)


def _messages(system: str, user: str) -> list[ChatMessage]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def compress_messages(text: str, max_tokens: int) -> list[ChatMessage]:
    """Ask for a note of at most ``max_tokens`` tokens of ``text``."""
    return _messages(_COMPRESS, f"Note budget: {max_tokens} tokens.\n\nPassage:\n{text}\n\nNote:")


def gate_messages(question: str, memory: str, note: str) -> list[ChatMessage]:
    """Ask yes/no: does ``note`` help answer ``question`` given ``memory``?"""
    user = (
        f"Question: {question}\n\nWorking memory:\n{memory or '(empty)'}\n\n"
        f"Passage:\n{note}\n\nCan this passage help answer the question? Answer yes or no."
    )
    return _messages(_GATE, user)


def memory_messages(question: str, memory: str, content: str, max_tokens: int) -> list[ChatMessage]:
    """Ask for the rewritten memory (at most ``max_tokens`` tokens)."""
    user = (
        f"Question: {question}\n\nWorking memory:\n{memory or '(empty)'}\n\n"
        f"New passage:\n{content}\n\nWrite the updated memory (at most {max_tokens} tokens):"
    )
    return _messages(_MEMORY, user)


def answer_messages(question: str, context: str) -> list[ChatMessage]:
    """Ask for the final answer from ``context``."""
    return _messages(_ANSWER, f"Question: {question}\n\nInformation:\n{context}\n\nAnswer:")


def render_plain(messages: list[ChatMessage]) -> str:
    """Render chat messages as one plain prompt (for models without a chat template)."""
    parts = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n\n".join(parts) + "\n\nAssistant:"
