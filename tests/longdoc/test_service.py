"""The service on the heuristic backend: bank building, durability, gate and reasoner."""

from __future__ import annotations

import math

import pytest
from longdoc_support import BlockedCompressionModel, filler_paragraph, planted_document

from lycheemem.errors import (
    DocumentNotFound,
    DocumentNotReady,
    PayloadTooLarge,
    ValidationFailed,
)
from lycheemem.longdoc.chunker import chunk_text

pytestmark = pytest.mark.anyio

FACTS = {
    # second hop planted *before* the first: only re-gating with the new memory finds it
    9: "Quorvane Tesselby lives in the city of Mirrowfall.",
    31: "The Zephyrine lamp was designed by Quorvane Tesselby.",
}
QUESTION = "In which city does the designer of the Zephyrine lamp live?"


async def _ready_document(service, text: str, user: str = "alice", **kwargs):
    doc = await service.create_document(user, title="haystack", text=text, **kwargs)
    assert doc.status == "queued" and doc.n_chunks > 0
    return await service.wait_ready(user, doc.doc_id)


async def test_bank_notes_respect_the_ratio_and_keep_facts(make_service, counter) -> None:
    service = await make_service(chunk_tokens=256, ratio=4)
    text = planted_document(40, FACTS)
    doc = await _ready_document(service, text)
    assert doc.status == "ready" and doc.chunks_done == doc.n_chunks
    chunks = chunk_text(text, counter, 256)
    bank = await service._bank.load_chunks("alice", doc.doc_id)
    assert [c.n_tokens for c in bank] == [c.n_tokens for c in chunks]
    for chunk in bank:
        assert 0 < chunk.note_tokens <= math.ceil(chunk.n_tokens / 4)
        assert counter.count(chunk.note) == chunk.note_tokens
    notes = " ".join(c.note for c in bank)
    assert "Mirrowfall" in notes and "Zephyrine" in notes  # dense facts survive compression
    assert doc.compression_ratio is not None and doc.compression_ratio >= 4


async def test_interrupted_compression_resumes_on_start(make_service, counter) -> None:
    blocked = BlockedCompressionModel(counter)
    first = await make_service(model=blocked, chunk_tokens=256)
    doc = await first.create_document("alice", title="t", text=planted_document(30, FACTS))
    with pytest.raises(DocumentNotReady):
        await first.ask("alice", doc_id=doc.doc_id, question=QUESTION)
    await first.close()  # a crash mid-job: progress stays in SQLite
    stored = await first._bank.get_document("alice", doc.doc_id)
    assert stored is not None and stored.status in ("queued", "compressing")
    second = await make_service(chunk_tokens=256)
    resumed = await second.wait_ready("alice", doc.doc_id)
    assert resumed.status == "ready" and resumed.chunks_done == resumed.n_chunks


async def test_gate_opens_both_hops_and_few_other_chunks(make_service, counter) -> None:
    service = await make_service(chunk_tokens=256)
    text = planted_document(40, FACTS)
    doc = await _ready_document(service, text)
    chunks = chunk_text(text, counter, 256)
    gold = {c.index for c in chunks for f in FACTS.values() if f in c.text}
    events: list[dict] = []

    async def collect(event: dict) -> None:
        events.append(event)

    result = await service.ask("alice", doc_id=doc.doc_id, question=QUESTION, on_event=collect)
    opened = {o.chunk_index for o in result.opened}
    assert gold <= opened
    assert result.chunks_opened <= len(gold) + 2 < result.chunks_total
    assert "Mirrowfall" in result.answer
    assert [e["type"] for e in events][-1] == "answer"
    assert {e["type"] for e in events} >= {"gate", "memory", "answer"}
    assert any(e["type"] == "gate" and e["pass"] == 2 and e["opened"] for e in events)


async def test_memagent_reads_every_window_and_costs_more(make_service) -> None:
    service = await make_service(chunk_tokens=256, memagent_chunk_tokens=300)
    doc = await _ready_document(service, planted_document(40, FACTS))
    lychee = await service.ask("alice", doc_id=doc.doc_id, question=QUESTION)
    memagent = await service.ask("alice", doc_id=doc.doc_id, question=QUESTION, method="memagent")
    assert memagent.chunks_opened == len(memagent.memory_trace) > lychee.chunks_opened
    assert memagent.prompt_tokens > 3 * lychee.prompt_tokens
    assert memagent.llm_calls == memagent.chunks_opened + 1


async def test_memory_never_exceeds_its_cap(make_service, counter) -> None:
    service = await make_service(chunk_tokens=256, memagent_chunk_tokens=256)
    facts = {i: f"The Zephyrine lamp part {i} was checked by Quorvane Tesselby." for i in range(30)}
    doc = await _ready_document(service, planted_document(30, facts))
    result = await service.ask(
        "alice", doc_id=doc.doc_id, question=QUESTION, method="memagent", memory_tokens=64
    )
    sizes = [counter.count(step.memory) for step in result.memory_trace]
    assert max(sizes) <= 64 and max(sizes) > 32  # full, but never over


async def test_rag_and_full_answer_in_one_call(make_service) -> None:
    service = await make_service(chunk_tokens=256, rag_top_k=3)
    doc = await _ready_document(service, planted_document(40, FACTS))
    rag = await service.ask("alice", doc_id=doc.doc_id, question=QUESTION, method="rag")
    assert rag.llm_calls == 1 and rag.chunks_opened == 3
    full = await service.ask("alice", doc_id=doc.doc_id, question=QUESTION, method="full")
    assert full.llm_calls == 1 and full.chunks_opened == full.chunks_total
    small = await make_service(chunk_tokens=256, context_tokens=1024)
    doc2 = await _ready_document(small, planted_document(40, FACTS), user="bob")
    with pytest.raises(ValidationFailed, match="full"):
        await small.ask("bob", doc_id=doc2.doc_id, question=QUESTION, method="full")


async def test_documents_are_isolated_per_user(make_service) -> None:
    service = await make_service(chunk_tokens=256)
    doc = await _ready_document(service, planted_document(10, FACTS))
    for call in (
        service.get_document("mallory", doc.doc_id),
        service.ask("mallory", doc_id=doc.doc_id, question=QUESTION),
        service.delete_document("mallory", doc.doc_id),
    ):
        with pytest.raises(DocumentNotFound):
            await call
    assert (await service.list_documents("mallory"))[1] == 0
    docs, total = await service.list_documents("alice")
    assert total == 1 and docs[0].doc_id == doc.doc_id
    await service.delete_document("alice", doc.doc_id)
    with pytest.raises(DocumentNotFound):
        await service.get_document("alice", doc.doc_id)
    assert await service._bank.get_vectors("alice", doc.doc_id, 1) is None


async def test_bad_input_is_refused(make_service) -> None:
    service = await make_service(max_doc_bytes=2048)
    with pytest.raises(PayloadTooLarge):
        await service.create_document("alice", title="t", text="x" * 3000)
    with pytest.raises(ValidationFailed):
        await service.create_document("alice", title="  ", text="text")
    with pytest.raises(ValidationFailed):
        await service.create_document("alice", title="t", text="text", ratio=64)
    doc = await _ready_document(service, filler_paragraph(1))
    with pytest.raises(ValidationFailed):
        await service.ask("alice", doc_id=doc.doc_id, question="q", method="magic")
    with pytest.raises(ValidationFailed):
        await service.ask("alice", doc_id=doc.doc_id, question="   ")
