"""The model-free backend: extractive notes, an overlap judge, an extractive reasoner."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass

from lycheemem.domain.ports import TokenCounter
from lycheemem.longdoc.backends.base import Completion, Judgement
from lycheemem.longdoc.text import entity_terms, split_sentences, terms, truncate_to_tokens

__all__ = ["HeuristicModel", "note_sentence_score"]

_NUMBER = re.compile(r"\d+(?:[.,:/-]\d+)*")
_DATE = re.compile(
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{1,2}\b|"
    r"\b(?:1[5-9]|20)\d{2}\b|\b\d{4}-\d{2}-\d{2}\b",
    re.IGNORECASE,
)
_CAPITAL = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w-]+")
_ANSWER_SENTENCES = 5
# Sentences must share at least this much weighted evidence with the question or the
# memory's entities to enter the memory; one shared common word is not enough.
_MIN_RELEVANCE = 2.0


def note_sentence_score(sentence: str) -> float:
    """Information density of a sentence: entities, numbers and dates count most."""
    entities = len(_CAPITAL.findall(sentence))
    numbers = len(_NUMBER.findall(sentence))
    dates = len(_DATE.findall(sentence))
    return 1.5 * min(entities, 4) + 1.0 * min(numbers, 3) + 1.0 * min(dates, 2) + 0.1


@dataclass(frozen=True, slots=True)
class _Scored:
    position: int
    score: float
    sentence: str


class HeuristicModel:
    """Answers without any model; deterministic and CPU-only.

    Promises: notes are extracts of the source sentences (kept in source order) within
    the token budget; the memory keeps the sentences that share the most weighted terms
    with the question and with the entities already in memory, within the cap; the
    answer is the best few memory sentences. Token counts are those of the text read and
    written, so the cost accounting matches a model that reads the same prompts.
    """

    name = "heuristic"
    has_judge = False

    def __init__(self, counter: TokenCounter, *, context_tokens: int = 32_768) -> None:
        self._counter = counter
        self.context_tokens = context_tokens

    async def compress(
        self, texts: Sequence[str], *, max_tokens: Sequence[int]
    ) -> list[Completion]:
        """Extract the densest sentences of each text within its budget."""
        return await asyncio.to_thread(self._compress_all, list(texts), list(max_tokens))

    def _compress_all(self, texts: list[str], caps: list[int]) -> list[Completion]:
        return [self._compress_one(text, cap) for text, cap in zip(texts, caps, strict=True)]

    def _compress_one(self, text: str, cap: int) -> Completion:
        sentences = split_sentences(text)
        ranked = sorted(
            range(len(sentences)), key=lambda i: (-note_sentence_score(sentences[i]), i)
        )
        note = self._fill(sentences, ranked, cap, separator=" ")
        return Completion(note, self._counter.count(text), self._counter.count(note))

    def _fill(self, sentences: list[str], ranked: list[int], cap: int, *, separator: str) -> str:
        chosen: list[int] = []
        used = 0
        for index in ranked:
            cost = self._counter.count(sentences[index]) + 1
            if used + cost > cap:
                continue
            chosen.append(index)
            used += cost
        text = separator.join(sentences[i] for i in sorted(chosen))
        return truncate_to_tokens(text, self._counter, cap)

    async def judge(self, question: str, memory: str, notes: Sequence[str]) -> list[Judgement]:
        """Share of the question's and memory entities' terms found in each note."""
        wanted = set(terms(question)) | entity_terms(memory)
        prompt_base = self._counter.count(question) + self._counter.count(memory)
        out = []
        for note in notes:
            found = wanted & set(terms(note))
            p_yes = len(found) / len(wanted) if wanted else 0.0
            out.append(Judgement(p_yes, prompt_base + self._counter.count(note), 1))
        return out

    async def update_memory(
        self, question: str, memory: str, content: str, *, max_tokens: int
    ) -> Completion:
        """Keep the most question-relevant sentences of old memory plus content."""
        return await asyncio.to_thread(self._update_sync, question, memory, content, max_tokens)

    def _update_sync(self, question: str, memory: str, content: str, cap: int) -> Completion:
        old = [line for line in memory.split("\n") if line.strip()]
        kept = _relevant(question, old, split_sentences(content))
        ranked = sorted(range(len(kept)), key=lambda i: (-kept[i].score, kept[i].position))
        text = self._fill([item.sentence for item in kept], ranked, cap, separator="\n")
        prompt = self._counter.count(question) + self._counter.count(memory)
        prompt += self._counter.count(content)
        return Completion(text, prompt, self._counter.count(text))

    async def answer(self, question: str, context: str, *, max_tokens: int) -> Completion:
        """The best few sentences of ``context`` for the question, in context order."""
        return await asyncio.to_thread(self._answer_sync, question, context, max_tokens)

    def _answer_sync(self, question: str, context: str, cap: int) -> Completion:
        lines = [line for line in context.split("\n") if line.strip()]
        sentences = [s for line in lines for s in split_sentences(line)]
        chosen = _follow_chain(question, sentences)
        text = " ".join(sentences[i] for i in sorted(chosen))
        text = truncate_to_tokens(text, self._counter, cap)
        prompt = self._counter.count(question) + self._counter.count(context)
        return Completion(text, prompt, self._counter.count(text))

    async def close(self) -> None:
        """Nothing to release."""


def _relevant(question: str, old: list[str], new: list[str]) -> list[_Scored]:
    """Sentences of ``old + new`` relevant enough for the memory, in order.

    Relevance spreads: a kept sentence's entities bridge to further sentences of the same
    content (two hops in one chunk), so ranking repeats until the kept set is stable.
    """
    bridge = list(old)
    kept: list[_Scored] = []
    for _ in range(4):
        scored = _rank(question, old, new, bridge=bridge)
        kept = [item for item in scored if item.score >= _MIN_RELEVANCE]
        grown = [item.sentence for item in kept]
        if set(grown) <= set(bridge):
            break
        bridge = list(dict.fromkeys([*bridge, *grown]))
    return kept


def _rank(
    question: str, old: list[str], new: list[str], *, bridge: list[str] | None = None
) -> list[_Scored]:
    """Score sentences by weighted overlap with the question and the memory's entities.

    Question entities (capitalised words) weigh 2, other question terms 1; entities of
    the old memory that the question does not name weigh 1.5, which is what lets a
    second hop (a fact about an entity found by the first hop) into the memory.
    """
    question_terms = set(terms(question))
    question_entities = entity_terms(question) & question_terms
    bridge_terms = entity_terms("\n".join(old if bridge is None else bridge)) - question_terms
    weights = {term: 1.0 for term in question_terms}
    weights.update({term: 2.0 for term in question_entities})
    for term in bridge_terms:
        weights.setdefault(term, 1.5)
    out = []
    for position, sentence in enumerate([*old, *new]):
        words = set(terms(sentence))
        score = sum(weights.get(word, 0.0) for word in words)
        out.append(_Scored(position, score, sentence))
    return out


def _follow_chain(question: str, sentences: list[str]) -> list[int]:
    """Indexes of the best question sentence and the sentences linked to it by entities.

    Starting from the sentence that best matches the question, repeatedly add the
    sentence sharing the most entities with those chosen (a walk along the hops), up to
    ``_ANSWER_SENTENCES`` sentences.
    """
    scored = _rank(question, [], sentences)
    if not scored or max(item.score for item in scored) <= 0:
        return []
    first = max(scored, key=lambda item: (item.score, -item.position)).position
    chosen = [first]
    entities = [entity_terms(sentence) for sentence in sentences]
    known = set(entities[first])
    while len(chosen) < _ANSWER_SENTENCES:
        links = [
            (len(entities[i] & known), scored[i].score, -i)
            for i in range(len(sentences))
            if i not in chosen
        ]
        if not links or max(links)[0] == 0:
            break
        best = -max(links)[2]
        chosen.append(best)
        known |= entities[best]
    return chosen
