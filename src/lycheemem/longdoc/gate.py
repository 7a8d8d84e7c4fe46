"""The gate's cheap first stage: query coverage by BM25, nudged by embedding similarity.

The pre-score of a chunk is the share of the query's informative BM25 mass that the chunk
matches (1.0 = it holds every informative query term once), plus a small bonus when its
vector stands out from the other chunks'. Two queries are scored, the question's terms and
the working memory's entities and numbers, and the better coverage counts. Terms found
only in chunks already read carry no information for finding the next chunk and are
left out, which is what makes the gate state-aware: once the memory names the entity
of a first hop, the chunk with the second hop covers most of the memory query. The
reference mass never drops below one rare-term match, so once the rare terms are read a
chunk that only shares a common name does not look relevant. The second stage (the
model's P(yes)) lives in the runner; for the model-free backend the pre-score itself is
the probability.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

import numpy as np

from lycheemem.longdoc.models import BankChunk
from lycheemem.longdoc.text import entity_terms, terms

__all__ = [
    "GateIndex",
    "memory_weights",
    "prescore_probability",
    "query_weights",
    "recall_candidates",
]

_K1 = 1.2
_B = 0.75
# The embedding only nudges: +0.05 per robust standard deviation above the typical chunk.
_COSINE_BONUS = 0.05
_COSINE_FLOOR = 0.02


def query_weights(question: str) -> dict[str, float]:
    """Weights of the question query: every content term of the question, weight 1."""
    return dict.fromkeys(terms(question), 1.0)


def memory_weights(memory: str) -> dict[str, float]:
    """Weights of the memory query: the memory's entities and numbers, weight 1.

    These are what a next hop is about; the memory's ordinary words are left out so that
    a long memory does not dilute them.
    """
    found = entity_terms(memory)
    found.update(term for term in terms(memory) if any(ch.isdigit() for ch in term))
    return dict.fromkeys(sorted(found), 1.0)


def _robust_z(values: np.ndarray, keep: np.ndarray, floor: float) -> np.ndarray:
    """z-scores against the kept chunks' median and spread (MAD, else std, at least ``floor``)."""
    sample = values[keep] if keep.any() else values
    median = float(np.median(sample))
    scale = 1.4826 * float(np.median(np.abs(sample - median)))
    if scale < 1e-9:
        scale = float(np.std(sample))
    return (values - median) / max(scale, floor)


class GateIndex:
    """An in-memory BM25 index over chunk term counts plus the chunk vectors.

    Promises: ``prescore`` returns one finite float per chunk (a z-score: 0 is a typical
    chunk, higher means more related to the query), deterministic for equal inputs.
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

    def _idf(self, df: int) -> float:
        return math.log(1 + (self.n_chunks - df + 0.5) / (df + 0.5))

    def coverage(self, weights: dict[str, float], exclude: Collection[int] = ()) -> np.ndarray:
        """Share of the informative query mass each chunk matches (BM25, tf-saturated).

        A term is informative unless every chunk holding it is in ``exclude``; the
        reference mass is what one match of every informative term would score, and at
        least what one match of a term found in a single chunk scores.
        """
        scores = np.zeros(self.n_chunks, dtype=np.float32)
        excluded = set(exclude)
        reference = 0.0
        for term, weight in weights.items():
            posting = self._postings.get(term)
            if posting is None:
                continue
            ids, tfs = posting
            if excluded and excluded.issuperset(ids.tolist()):
                continue
            idf = self._idf(len(ids))
            scores[ids] += weight * idf * tfs * (_K1 + 1) / (tfs + self._norm[ids])
            reference += weight * idf
        if reference <= 0:
            return scores
        return np.minimum(scores / max(reference, self._idf(1)), 1.0)

    def prescore(
        self,
        question: dict[str, float],
        memory: dict[str, float],
        query_vector: np.ndarray,
        exclude: Collection[int] = (),
    ) -> np.ndarray:
        """Best of question and memory coverage, plus a small bonus when the chunk's vector
        stands out; about ``[0, 1.2]``. ``exclude`` (chunks already read) is left out of the
        statistics and of what counts as informative.
        """
        score = np.maximum(self.coverage(question, exclude), self.coverage(memory, exclude))
        if self._vectors.shape[0] != self.n_chunks or not np.any(query_vector):
            return score
        keep = np.ones(self.n_chunks, dtype=bool)
        keep[list(exclude)] = False
        cosine = self._vectors @ np.asarray(query_vector, dtype=np.float32)
        z = np.clip(_robust_z(cosine, keep, _COSINE_FLOOR), 0.0, 4.0)
        return (score + _COSINE_BONUS * z).astype(np.float32)


def prescore_probability(score: float) -> float:
    """The model-free gate's P(yes): the pre-score clipped to ``[0, 1]``."""
    return min(1.0, max(0.0, score))


def recall_candidates(scores: np.ndarray, *, recall_cut: float, min_candidates: int) -> set[int]:
    """Chunks the model must judge: every pre-score >= ``recall_cut`` plus the best few.

    The cut is recall-safe by design: it only removes chunks that look like the bulk of
    the document; anything standing out, or among the top few, goes to the model.
    """
    chosen = {int(i) for i in np.flatnonzero(scores >= recall_cut)}
    if min_candidates > 0:
        top = np.argsort(-scores, kind="stable")[:min_candidates]
        chosen.update(int(i) for i in top)
    return chosen
