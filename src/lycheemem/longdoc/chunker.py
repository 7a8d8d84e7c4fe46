"""Token-based chunking at paragraph, then sentence, then word boundaries."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lycheemem.domain.ports import TokenCounter
from lycheemem.longdoc.text import sentence_spans

__all__ = ["Chunk", "chunk_text"]

_PARAGRAPH_END = re.compile(r"\n[ \t]*\n\s*")
_WORD_END = re.compile(r"\S+\s*")


@dataclass(frozen=True, slots=True)
class Chunk:
    """One chunk: ``text == source[start:end]``; ``n_tokens`` counted on ``text``."""

    index: int
    start: int
    end: int
    text: str
    n_tokens: int


def chunk_text(text: str, counter: TokenCounter, chunk_tokens: int) -> list[Chunk]:
    """Split ``text`` into consecutive chunks of at most ``chunk_tokens`` tokens.

    Promises: chunks cover ``text`` exactly and in order (``chunks[i].end ==
    chunks[i+1].start``, first start 0, last end ``len(text)``); cuts fall on paragraph
    boundaries when possible, else sentence, else word boundaries (a single word longer
    than the budget is cut inside); every chunk has ``n_tokens <= chunk_tokens``. Blank
    text gives no chunks.
    """
    if chunk_tokens < 1:
        raise ValueError("chunk_tokens must be positive")
    if not text.strip():
        return []
    segments = _segments(text, 0, len(text), counter, chunk_tokens, level=0)
    return _pack(text, segments, counter, chunk_tokens)


def _segments(
    text: str, start: int, end: int, counter: TokenCounter, budget: int, level: int
) -> list[tuple[int, int, int]]:
    """``(start, end, tokens)`` pieces of ``text[start:end]``, each within ``budget`` tokens."""
    out: list[tuple[int, int, int]] = []
    for piece_start, piece_end in _split(text, start, end, level):
        tokens = counter.count(text[piece_start:piece_end])
        if tokens <= budget or piece_end - piece_start <= 1:
            out.append((piece_start, piece_end, tokens))
        elif level < 3:
            out.extend(_segments(text, piece_start, piece_end, counter, budget, level + 1))
        else:
            out.extend(_halve(text, piece_start, piece_end, counter, budget))
    return out


def _split(text: str, start: int, end: int, level: int) -> list[tuple[int, int]]:
    """Boundaries of one level: paragraphs, sentences, words, then the span itself."""
    part = text[start:end]
    if level == 0:
        spans = _spans_after(part, _PARAGRAPH_END)
    elif level == 1:
        spans = sentence_spans(part)
    elif level == 2:
        spans = [(m.start(), m.end()) for m in _WORD_END.finditer(part)]
        if spans and spans[0][0] > 0:
            spans[0] = (0, spans[0][1])
    else:
        spans = [(0, len(part))]
    return [(start + s, start + e) for s, e in spans] or [(start, end)]


def _spans_after(part: str, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    spans, begin = [], 0
    for match in pattern.finditer(part):
        if match.end() > begin:
            spans.append((begin, match.end()))
            begin = match.end()
    if begin < len(part):
        spans.append((begin, len(part)))
    return spans


def _halve(
    text: str, start: int, end: int, counter: TokenCounter, budget: int
) -> list[tuple[int, int, int]]:
    tokens = counter.count(text[start:end])
    if tokens <= budget or end - start <= 1:
        return [(start, end, tokens)]
    middle = (start + end) // 2
    return _halve(text, start, middle, counter, budget) + _halve(text, middle, end, counter, budget)


def _pack(
    text: str, segments: list[tuple[int, int, int]], counter: TokenCounter, budget: int
) -> list[Chunk]:
    """Greedily join segments; a recount guards against non-additive tokenisation."""
    chunks: list[Chunk] = []
    group: list[tuple[int, int, int]] = []
    total = 0
    for segment in segments:
        if group and total + segment[2] > budget:
            _emit(text, group, counter, budget, chunks)
            group, total = [], 0
        group.append(segment)
        total += segment[2]
    if group:
        _emit(text, group, counter, budget, chunks)
    return chunks


def _emit(
    text: str,
    group: list[tuple[int, int, int]],
    counter: TokenCounter,
    budget: int,
    chunks: list[Chunk],
) -> None:
    start, end = group[0][0], group[-1][1]
    tokens = counter.count(text[start:end])
    if tokens > budget and len(group) > 1:
        half = len(group) // 2
        _emit(text, group[:half], counter, budget, chunks)
        _emit(text, group[half:], counter, budget, chunks)
        return
    chunks.append(Chunk(len(chunks), start, end, text[start:end], tokens))
