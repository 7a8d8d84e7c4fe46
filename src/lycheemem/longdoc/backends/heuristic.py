"""The model-free backend: extractive notes, an overlap judge, an extractive reasoner."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lycheemem.domain.ports import TokenCounter
from lycheemem.longdoc.backends.base import Completion, Judgement
from lycheemem.longdoc.text import (
    STOPWORDS,
    entity_spans,
    entity_terms,
    link_terms,
    linked_terms,
    named_terms,
    split_sentences,
    terms,
    truncate_to_tokens,
)

__all__ = ["HeuristicModel", "Resolution", "note_sentence_score", "resolve_chain"]

_NUMBER = re.compile(r"\d+(?:[.,:/-]\d+)*")
_DATE = re.compile(
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{1,2}\b|"
    r"\b(?:1[5-9]|20)\d{2}\b|\b\d{4}-\d{2}-\d{2}\b",
    re.IGNORECASE,
)
_CAPITAL = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w-]+")
_NAME = re.compile(r"\b[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*")
_ANSWER_SENTENCES = 5
# Sentences must share at least this much weighted evidence with the question or the
# memory's entities to enter the memory; one shared common word is not enough.
_MIN_RELEVANCE = 2.0


def note_sentence_score(sentence: str, name_counts: Mapping[str, int] | None = None) -> float:
    """Information density of a sentence: entities, numbers and dates count most.

    With ``name_counts`` (how often each capitalised word occurs in the whole passage) a
    name counts ``1 / occurrences``: a name said once is news, one repeated on every line
    (a class name in a manual, a speaker in a transcript) is not.
    """
    names = _CAPITAL.findall(sentence)
    if name_counts is None:
        entities = float(len(names))
    else:
        entities = sum(1.0 / max(1, name_counts.get(name, 1)) for name in names)
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
    the token budget; the memory keeps the sentences linked to the question's entities
    (directly or along a chain of shared entities) that share the most weighted terms
    with it, within the cap; when the memory holds a chain of at least two sentences the
    answer starts with the entity the chain resolves to, then gives the chain's
    sentences as evidence (just the best sentences otherwise). Token counts are those of
    the text read and written, so the cost accounting matches a model that reads the
    same prompts.
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
        name_counts = Counter(name for s in sentences for name in _CAPITAL.findall(s))
        scores = [note_sentence_score(sentence, name_counts) for sentence in sentences]
        ranked = sorted(range(len(sentences)), key=lambda i: (-scores[i], i))
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
        # a sentence already in memory is not kept twice (a chunk may be read again)
        new = [s for s in split_sentences(content) if s not in set(old)]
        kept = _relevant(question, old, new)
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
        resolution = resolve_chain(question, sentences)
        evidence = " ".join(sentences[i] for i in resolution.chain)
        if resolution.entity and len(resolution.chain) > 1:
            text = f"{resolution.entity}. Evidence: {evidence}"
        else:
            text = evidence
        text = truncate_to_tokens(text, self._counter, cap)
        prompt = self._counter.count(question) + self._counter.count(context)
        return Completion(text, prompt, self._counter.count(text))

    async def close(self) -> None:
        """Nothing to release."""


def _seeds(question: str) -> tuple[set[str], bool]:
    """What a chain starts from: the question's entities and numbers, else all its terms.

    The flag is True when the seeds are names (then links must be written as names).
    """
    question_terms = set(terms(question))
    # a name's last word is its specific one ("Project Heron", "Hana Quintero")
    seeds = {span[-1] for span in entity_spans(question)}
    seeds.update(t for t in question_terms if any(ch.isdigit() for ch in t))
    return (seeds, True) if seeds else (question_terms, False)


def _relevant(question: str, old: list[str], new: list[str]) -> list[_Scored]:
    """Sentences of ``old + new`` relevant enough for the memory, in order.

    A sentence qualifies when it scores at least ``_MIN_RELEVANCE`` and, if the question
    names entities, it is linked to them (directly or through the entities of other
    linked sentences, old or new: two hops in one chunk, or a hop whose link was read
    earlier). Sentences that only share ordinary words with the question stay out, which
    keeps real prose from flooding the memory.
    """
    sentences = [*old, *new]
    seeds, named = _seeds(question)
    linked = linked_terms(seeds, sentences, any_case=not named)
    scored = _rank(question, sentences, linked)
    return [
        item
        for item in scored
        if item.score >= _MIN_RELEVANCE and (not named or named_terms(item.sentence) & linked)
    ]


def _rank(question: str, sentences: list[str], linked: set[str]) -> list[_Scored]:
    """Score sentences by weighted overlap with the question and the linked entities.

    Question entities weigh 3, linked entities the question does not name 2 (what lets
    a later hop, a fact about an entity found by an earlier one, in), other question
    terms 1.
    """
    question_terms = set(terms(question))
    weights = dict.fromkeys(question_terms, 1.0)
    weights.update(dict.fromkeys(entity_terms(question) & question_terms, 3.0))
    for term in linked - question_terms:
        weights[term] = 2.0
    out = []
    for position, sentence in enumerate(sentences):
        score = sum(weights.get(word, 0.0) for word in set(terms(sentence)))
        out.append(_Scored(position, score, sentence))
    return out


@dataclass(frozen=True, slots=True)
class Resolution:
    """A chain walked through the memory: its sentences in hop order and where it ends."""

    chain: list[int]
    entity: str | None


def resolve_chain(question: str, sentences: list[str]) -> Resolution:
    """Walk from the sentence that best matches the question along shared entities.

    The start is the best-scoring sentence among those naming a question entity (any
    sentence when none does); each step adds the sentence that shares the most
    entities with the chain so far and brings a new one, up to ``_ANSWER_SENTENCES``.
    The resolved entity is the last capitalised name of the final sentence that neither
    the question nor an earlier step mentions (None when there is no such name).
    """
    if not sentences:
        return Resolution([], None)
    seeds, named = _seeds(question)
    scored = _rank(question, sentences, linked_terms(seeds, sentences, any_case=not named))
    words = [named_terms(s) if named else set(terms(s)) for s in sentences]
    # the start is judged on the question alone: linked names would favour a sentence
    # that merely mentions many of its own names
    direct = _rank(question, sentences, set())
    starts = [item for item in direct if words[item.position] & seeds] or direct
    best = max(starts, key=lambda item: (item.score, -item.position))
    if best.score <= 0:
        return Resolution([], None)
    chain = [best.position]
    known = link_terms(sentences[best.position]) | (words[best.position] & seeds)
    while len(chain) < _ANSWER_SENTENCES:
        links = [
            (len(words[i] & known), scored[i].score, -i)
            for i in range(len(sentences))
            if i not in chain and words[i] & known and link_terms(sentences[i]) - known
        ]
        if not links:
            break
        step = -max(links)[2]
        chain.append(step)
        known |= link_terms(sentences[step])
    return Resolution(chain, _new_name(question, [sentences[i] for i in chain]))


def _new_name(question: str, chain: list[str]) -> str | None:
    """The last name in ``chain[-1]`` that the question and earlier steps do not mention."""
    if not chain:
        return None
    before = set(terms(question))
    for sentence in chain[:-1]:
        before |= set(terms(sentence))
    names = []
    for match in _NAME.finditer(chain[-1]):
        words = match.group(0).split()
        if match.start() == 0 or chain[-1][: match.start()].rstrip().endswith(":"):
            words = words[1:]  # a sentence's first word is capitalised anyway
        name_terms = {w.lower() for w in words}
        if words and not name_terms & before and not name_terms <= STOPWORDS:
            names.append(" ".join(words))
    return names[-1] if names else None
