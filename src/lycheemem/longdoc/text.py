"""Text helpers shared by the chunker, the heuristic backend and the gate."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable

from lycheemem.domain.ports import TokenCounter

__all__ = [
    "STOPWORDS",
    "entity_spans",
    "entity_terms",
    "link_terms",
    "linked_terms",
    "named_terms",
    "sentence_spans",
    "split_sentences",
    "term_counts",
    "terms",
    "truncate_to_tokens",
]

_WORD = re.compile(r"\w+", re.UNICODE)
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])[\"')\]]*\s+|\n\s*\n|\n")
_ENTITY = re.compile(r"\b[A-Z][\w-]*(?:\s+[A-Z][\w-]*)*")

_STOPWORD_TEXT = (
    "a about above after again against all am an and any are as at be because been before "
    "being below between both but by can could did do does doing down during each few for "
    "from further had has have having he her here hers herself him himself his how i if in "
    "into is it its itself just me more most my myself no nor not now of off on once only or "
    "other our ours out over own same she should so some such than that the their theirs them "
    "themselves then there these they this those through to too under until up very was we "
    "were what when where which while who whom why will with would you your yours also which "
    "whose may might must shall one "
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def terms(text: str) -> list[str]:
    """Lower-cased content words of ``text`` (stopwords and 1-character words removed)."""
    return [
        word
        for word in (match.group(0).lower() for match in _WORD.finditer(text))
        if len(word) > 1 and word not in STOPWORDS
    ]


def term_counts(text: str) -> Counter[str]:
    """Term frequencies of ``text`` as produced by :func:`terms`."""
    return Counter(terms(text))


def entity_spans(text: str) -> list[list[str]]:
    """Lower-cased words of each capitalised span, as :func:`entity_terms` finds them."""
    spans = []
    for sentence in split_sentences(text):
        for match in _ENTITY.finditer(sentence):
            words = match.group(0).split()
            if match.start() == 0:
                words = words[1:]
            kept = [w.lower() for w in words if w.lower() not in STOPWORDS and len(w) > 1]
            if kept:
                spans.append(kept)
    return spans


def entity_terms(text: str) -> set[str]:
    """Lower-cased words of capitalised spans that are not the first word of a sentence."""
    found: set[str] = set()
    for sentence in split_sentences(text):
        for match in _ENTITY.finditer(sentence):
            words = match.group(0).split()
            if match.start() == 0:
                words = words[1:]
            found.update(w.lower() for w in words if w.lower() not in STOPWORDS and len(w) > 1)
    return found


def link_terms(sentence: str) -> set[str]:
    """What a sentence can hand on along a chain: its entity terms and its numbers."""
    found = entity_terms(sentence)
    found.update(term for term in terms(sentence) if any(ch.isdigit() for ch in term))
    return found


def named_terms(sentence: str) -> set[str]:
    """Lower-cased words written with a capital (sentence-initial ones too) and numbers."""
    return {
        word.lower()
        for word in (match.group(0) for match in _WORD.finditer(sentence))
        if word[0].isupper() or any(ch.isdigit() for ch in word)
    }


def linked_terms(
    seeds: Iterable[str],
    sentences: Iterable[str],
    *,
    allow: Callable[[str], bool] | None = None,
    any_case: bool = False,
) -> set[str]:
    """The seeds plus every entity reachable from them through ``sentences``.

    A sentence is linked when it names a term already linked (written with a capital,
    or a number; any spelling when ``any_case``, for questions that name no entity); a
    linked sentence hands on its :func:`link_terms`. Repeats until nothing new is
    linked, so a chain of facts (A->B, B->C, C->D) is followed whatever its order, and
    a sentence that merely uses "project" does not link to "Project Heron". ``allow``
    restricts which terms may link (for example only terms rare in the document).
    """

    def usable(term: str) -> bool:
        return allow is None or allow(term)

    match = (lambda text: set(terms(text))) if any_case else named_terms
    pending = [(match(sentence), link_terms(sentence)) for sentence in sentences]
    linked = {term for term in seeds if usable(term)}
    grew = True
    while grew and pending:
        grew = False
        rest = []
        for words, hand_on in pending:
            if words & linked:
                linked.update(term for term in hand_on if usable(term))
                grew = True
            else:
                rest.append((words, hand_on))
        pending = rest
    return linked


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` character spans of the sentences of ``text``, covering it in order.

    Consecutive spans touch (the whitespace after a sentence belongs to it), so joining
    ``text[s:e]`` over all spans gives ``text`` back.
    """
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        if end > start:
            spans.append((start, end))
            start = end
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def split_sentences(text: str) -> list[str]:
    """The non-blank sentences of ``text``, stripped, in order."""
    out = []
    for start, end in sentence_spans(text):
        sentence = text[start:end].strip()
        if sentence:
            out.append(sentence)
    return out


def truncate_to_tokens(text: str, counter: TokenCounter, max_tokens: int) -> str:
    """Return the longest word-boundary prefix of ``text`` with at most ``max_tokens`` tokens."""
    if max_tokens <= 0:
        return ""
    if counter.count(text) <= max_tokens:
        return text
    cuts = [match.end() for match in re.finditer(r"\S+", text)]
    low, high = 0, len(cuts) - 1
    best = 0
    while low <= high:
        middle = (low + high) // 2
        if counter.count(text[: cuts[middle]]) <= max_tokens:
            best = cuts[middle]
            low = middle + 1
        else:
            high = middle - 1
    if best == 0:
        return _truncate_characters(text, counter, max_tokens)
    return text[:best]


def _truncate_characters(text: str, counter: TokenCounter, max_tokens: int) -> str:
    low, high, best = 0, len(text), 0
    while low <= high:
        middle = (low + high) // 2
        if counter.count(text[:middle]) <= max_tokens:
            best = middle
            low = middle + 1
        else:
            high = middle - 1
    return text[:best]
