"""The gate on real prose: document-calibrated anchors, entity chaining, answer first."""

from __future__ import annotations

import ast
import random
import sysconfig
from pathlib import Path

import numpy as np
import pytest

from lycheemem.longdoc.backends.heuristic import HeuristicModel, resolve_chain
from lycheemem.longdoc.chunker import chunk_text
from lycheemem.longdoc.gate import GateIndex, build_query
from lycheemem.longdoc.models import BankChunk
from lycheemem.longdoc.text import linked_terms, term_counts

pytestmark = pytest.mark.anyio

# a paraphrased three-hop chain: no fact repeats the question's relation words
CHAIN = (
    "The key to the Heron strongroom was entrusted to Mirela Okafor.",
    "These days Mirela Okafor rents a small flat in Dunmere.",
    "The sister town of Dunmere is Kestrelhaven, a fishing port on the coast.",
)
QUESTION = (
    "Which harbour city is twinned with the town where the holder of the Project Heron "
    "vault key lives?"
)
_MODULES = ("argparse", "subprocess", "logging/__init__", "tarfile", "pathlib", "typing")


def _docstring_prose() -> list[str]:
    """Prose paragraphs of a few standard-library docstrings (real text nobody tuned on)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    out = []
    for name in _MODULES:
        tree = ast.parse((root / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef):
                doc = ast.get_docstring(node) or ""
                for block in doc.split("\n\n"):
                    text = " ".join(line.strip() for line in block.splitlines())
                    if len(text) > 80 and text.endswith(".") and ">>>" not in text:
                        out.append(text)
    return out


def _prose_document(paragraphs: int, facts: dict[int, str], seed: int = 3) -> str:
    pool = _docstring_prose()
    random.Random(seed).shuffle(pool)
    out = []
    for index in range(paragraphs):
        text = pool[index % len(pool)]
        out.append(f"{text} {facts[index]}" if index in facts else text)
    return "\n\n".join(out)


def _index(texts: list[str]) -> GateIndex:
    chunks = [BankChunk(i, 100, text, 25, dict(term_counts(text))) for i, text in enumerate(texts)]
    return GateIndex(chunks, np.zeros((len(texts), 4), dtype=np.float32))


NO_VECTOR = np.zeros(4, dtype=np.float32)


def test_a_common_capitalised_word_is_not_an_anchor_but_a_rare_name_is() -> None:
    texts = [f"The Project board met on day {i} about the key and the town." for i in range(10)]
    texts[4] += " The Heron papers were filed."
    index = _index(texts)
    query = build_query(QUESTION, "", index)
    assert query.anchors == {"heron"}
    assert {"project", "key", "town"} <= query.plain
    scores = index.prescore(query, NO_VECTOR)
    assert int(np.argmax(scores)) == 4 and scores[4] >= 1.0
    # every other chunk shares "Project", "key" and "town" with the question, yet stays shut
    assert float(np.delete(scores, 4).max()) < 0.5


def test_memory_chains_to_new_names_and_ignores_unlinked_ones() -> None:
    texts = [f"Routine notes number {i} about the key and the town." for i in range(12)]
    texts[2] += " " + CHAIN[0]
    texts[7] += " " + CHAIN[1]
    texts[9] += " Greta Varga wrote the chapter on Lisbon."
    index = _index(texts)
    memory = f"{CHAIN[0]}\nGreta Varga wrote the chapter on Lisbon."
    query = build_query(QUESTION, memory, index)
    assert {"heron", "mirela", "okafor"} <= query.anchors
    assert not {"greta", "varga", "lisbon"} & query.anchors  # not linked to the question
    scores = index.prescore(query, NO_VECTOR, {2: frozenset({"heron"})})
    assert scores[7] >= 1.0 and scores[9] < 0.5
    # chunk 2 was read with "heron" only: the new names it holds bring it back
    assert scores[2] >= 0.5
    scores = index.prescore(query, NO_VECTOR, {2: query.anchors})
    assert scores[2] == 0.0


def test_linking_needs_a_name_not_a_common_word() -> None:
    sentences = [
        "The key to the Heron strongroom was entrusted to Mirela Okafor.",
        "We will heron-watch later; a heron flew past Lisbon.",
        "Okafor moved to Dunmere.",
    ]
    linked = linked_terms({"heron"}, sentences)
    assert {"mirela", "okafor", "dunmere"} <= linked and "lisbon" not in linked


def test_resolved_entity_comes_first_with_the_chain_as_evidence() -> None:
    shuffled = [CHAIN[2], "Okafor's neighbour likes tea.", CHAIN[0], CHAIN[1]]
    resolution = resolve_chain(QUESTION, shuffled)
    assert resolution.entity == "Kestrelhaven"
    assert [shuffled[i] for i in resolution.chain] == list(CHAIN)


async def test_heuristic_answer_states_the_entity_then_the_evidence(counter) -> None:
    model = HeuristicModel(counter)
    reply = await model.answer(QUESTION, "\n".join(reversed(CHAIN)), max_tokens=256)
    assert reply.text.startswith("Kestrelhaven. Evidence: ")
    assert all(fact in reply.text for fact in CHAIN)
    # nothing to resolve: the sentences alone, no invented entity first
    lone = await model.answer(QUESTION, "The Heron vault is old.", max_tokens=256)
    assert lone.text == "The Heron vault is old."


async def test_gate_is_selective_on_real_prose_and_keeps_every_hop(make_service, counter) -> None:
    facts = {150: CHAIN[2], 40: CHAIN[1], 230: CHAIN[0]}  # hops out of order
    text = _prose_document(260, facts)
    service = await make_service(chunk_tokens=512)
    doc = await service.create_document("alice", title="prose", text=text)
    doc = await service.wait_ready("alice", doc.doc_id)
    chunks = chunk_text(text, counter, 512)
    gold = {c.index for c in chunks for fact in CHAIN if fact in c.text}
    result = await service.ask("alice", doc_id=doc.doc_id, question=QUESTION)
    opened = {o.chunk_index for o in result.opened}
    assert len(gold) == 3 and gold <= opened
    assert result.chunks_opened <= len(gold) + 1
    assert result.chunks_total >= 6 * result.chunks_opened  # at most a sixth opened
    assert result.answer.startswith("Kestrelhaven.")
