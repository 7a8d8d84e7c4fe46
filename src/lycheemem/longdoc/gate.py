"""The gate's cheap first stage: anchors rare in this document, chained through the memory.

Real prose shares ordinary words with any question ("key", "town", "lives"), so counting
shared words lets most of a real document through. The pre-score therefore separates the
query into two kinds of terms:

- **anchors**: the question's named entities (capitalised words; every question term
  when the question names none) plus the entities the working memory reached from them
  (entity chaining: a hop's new entity, once read, drives the next gate round). Only
  anchors that *discriminate in this document* count: a term's BM25 IDF over the
  document's own chunks must be at least half the IDF of a term found in one chunk.
  That is the per-document calibration: "Project" in a document where half the chunks
  say "project" is not an anchor, "Heron" found in one chunk is.
- **plain terms**: the other question words, which only rank chunks.

Pre-score of a chunk = sum over the anchors it holds of ``idf / idf(unique)`` (1.0 for
an anchor found nowhere else) + at most ``PLAIN_SHARE`` for its BM25 coverage of the
plain terms + a small bonus when its note's vector stands out (dense side). With the
model-free backend the pre-score is the gate probability, so a chunk opens (>= 0.5) when
it holds one discriminating anchor and never on plain words or the vector alone. A chunk
already read counts only the anchors that are new since it was read, so it is read again
only when the chain has reached something it mentions. The second stage (the model's
P(yes)) lives in the runner and judges every chunk above the recall-safe cut.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lycheemem.longdoc.models import BankChunk
from lycheemem.longdoc.text import entity_spans, linked_terms, split_sentences, terms

__all__ = [
    "ANCHOR_FLOOR",
    "PLAIN_SHARE",
    "GateIndex",
    "GateQuery",
    "build_query",
    "prescore_probability",
    "recall_candidates",
]

_K1 = 1.2
_B = 0.75
# An anchor discriminates when its IDF is at least this share of a unique term's IDF.
ANCHOR_FLOOR = 0.5
# Plain question words can add at most this much: never enough to open a chunk alone.
PLAIN_SHARE = 0.25
# The embedding only nudges: +0.05 per robust standard deviation above the typical note.
_COSINE_BONUS = 0.05
_COSINE_FLOOR = 0.02


@dataclass(frozen=True, slots=True)
class GateQuery:
    """What the gate looks for: anchor terms (each may open a chunk) and plain terms."""

    anchors: frozenset[str]
    plain: frozenset[str]


def _robust_z(values: np.ndarray, keep: np.ndarray, floor: float) -> np.ndarray:
    """z-scores against the kept chunks' median and spread (MAD, else std, at least ``floor``)."""
    sample = values[keep] if keep.any() else values
    median = float(np.median(sample))
    scale = 1.4826 * float(np.median(np.abs(sample - median)))
    if scale < 1e-9:
        scale = float(np.std(sample))
    return (values - median) / max(scale, floor)


class GateIndex:
    """Document frequencies and BM25 postings over the chunks' terms, plus the note vectors.

    Promises: ``prescore`` returns one finite float per chunk, >= 0, deterministic for
    equal inputs; ``weight(term)`` is in ``[0, 1]`` (1 for a term found in one chunk, 0
    for an unknown one).
    """

    def __init__(self, chunks: Sequence[BankChunk], vectors: np.ndarray) -> None:
        self.n_chunks = len(chunks)
        self._vectors = np.asarray(vectors, dtype=np.float32)
        lengths = np.array([sum(c.terms.values()) for c in chunks], dtype=np.float32)
        self._norm = _K1 * (1 - _B + _B * lengths / max(1.0, float(lengths.mean() or 1.0)))
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for chunk in chunks:
            for term, count in chunk.terms.items():
                entry = postings.setdefault(term, ([], []))
                entry[0].append(chunk.index)
                entry[1].append(count)
        self._postings = {
            term: (np.array(ids, dtype=np.int64), np.array(tfs, dtype=np.float32))
            for term, (ids, tfs) in postings.items()
        }
        self._unique_idf = self._idf(1)

    def _idf(self, df: int) -> float:
        return math.log(1 + (self.n_chunks - df + 0.5) / (df + 0.5))

    def weight(self, term: str) -> float:
        """The term's IDF over this document's chunks, relative to a unique term's."""
        posting = self._postings.get(term)
        if posting is None or self._unique_idf <= 0:
            return 0.0
        return self._idf(len(posting[0])) / self._unique_idf

    def discriminates(self, term: str) -> bool:
        """True when ``term`` is in the document and rare enough to anchor the gate.

        A term found in at most two chunks always is (in a three-chunk document IDF
        alone would call a name that links two chunks common).
        """
        posting = self._postings.get(term)
        if posting is None:
            return False
        return len(posting[0]) <= 2 or self.weight(term) >= ANCHOR_FLOOR

    def _plain_coverage(self, plain: frozenset[str]) -> np.ndarray:
        """Share of the plain terms' IDF mass each chunk matches (BM25, tf-saturated)."""
        scores = np.zeros(self.n_chunks, dtype=np.float32)
        reference = 0.0
        for term in plain:
            posting = self._postings.get(term)
            if posting is None:
                continue
            ids, tfs = posting
            idf = self._idf(len(ids))
            scores[ids] += idf * tfs * (_K1 + 1) / (tfs + self._norm[ids])
            reference += idf
        if reference <= 0:
            return scores
        return np.minimum(scores / max(reference, self._unique_idf), 1.0)

    def prescore(
        self,
        query: GateQuery,
        query_vector: np.ndarray,
        seen: Mapping[int, frozenset[str]] | None = None,
    ) -> np.ndarray:
        """Anchor weight held + a share of plain coverage + a dense nudge, per chunk.

        ``seen`` maps chunks already read to the anchors they were read with: such a
        chunk scores only the anchors that are new since, and nothing else.
        """
        seen = seen or {}
        anchor = np.zeros(self.n_chunks, dtype=np.float32)
        for term in query.anchors:
            posting = self._postings.get(term)
            if posting is not None:
                anchor[posting[0]] += max(self.weight(term), ANCHOR_FLOOR)
        score = anchor + PLAIN_SHARE * self._plain_coverage(query.plain)
        if self._vectors.shape[0] == self.n_chunks and np.any(query_vector):
            keep = np.ones(self.n_chunks, dtype=bool)
            keep[list(seen)] = False
            cosine = self._vectors @ np.asarray(query_vector, dtype=np.float32)
            score += _COSINE_BONUS * np.clip(_robust_z(cosine, keep, _COSINE_FLOOR), 0.0, 4.0)
        for chunk_index, before in seen.items():
            score[chunk_index] = sum(
                max(self.weight(term), ANCHOR_FLOOR)
                for term in query.anchors - before
                if chunk_index in self._posting_set(term)
            )
        return score.astype(np.float32)

    def _posting_set(self, term: str) -> set[int]:
        posting = self._postings.get(term)
        return set() if posting is None else set(posting[0].tolist())


def build_query(question: str, memory: str, index: GateIndex) -> GateQuery:
    """The gate query for ``question`` given the working memory (entity chaining).

    Seeds are the rarest word of each name in the question and its numbers, or all its
    terms when it names nothing found in the document;
    anchors are the discriminating seeds plus every discriminating entity the memory
    reaches from them (see :func:`linked_terms`), so unrelated sentences in the memory
    add nothing.
    """
    question_terms = set(terms(question))
    # of a name like "Project Heron" only its rarest word anchors: "project" may be common
    seeds = {max(span, key=index.weight) for span in entity_spans(question)}
    seeds.update(t for t in question_terms if any(ch.isdigit() for ch in t))
    named = any(index.discriminates(t) for t in seeds)
    if not named:
        seeds = question_terms
    anchors = linked_terms(
        seeds, split_sentences(memory), allow=index.discriminates, any_case=not named
    )
    return GateQuery(frozenset(anchors), frozenset(question_terms - anchors))


def prescore_probability(score: float) -> float:
    """The model-free gate's P(yes): the pre-score clipped to ``[0, 1]``."""
    return min(1.0, max(0.0, score))


def recall_candidates(scores: np.ndarray, *, recall_cut: float, min_candidates: int) -> set[int]:
    """Chunks the model must judge: every pre-score >= ``recall_cut`` plus the best few.

    The cut is recall-safe by design: it only removes chunks that hold no anchor and
    little of the question; anything standing out, or among the top few, goes to the model.
    """
    chosen = {int(i) for i in np.flatnonzero(scores >= recall_cut)}
    if min_candidates > 0:
        top = np.argsort(-scores, kind="stable")[:min_candidates]
        chosen.update(int(i) for i in top)
    return chosen
