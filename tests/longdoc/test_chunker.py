"""Chunking: exact coverage, offsets, boundaries and the token cap."""

from __future__ import annotations

from longdoc_support import filler_paragraph

from lycheemem.domain.ports import TokenCounter
from lycheemem.longdoc.chunker import chunk_text
from lycheemem.longdoc.text import truncate_to_tokens


def _assert_covers(text: str, chunks: list, budget: int) -> None:
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert before.end == after.start
    for position, chunk in enumerate(chunks):
        assert chunk.index == position
        assert chunk.text == text[chunk.start : chunk.end]
        assert 0 < chunk.n_tokens <= budget


def test_chunks_cover_text_and_respect_budget(counter: TokenCounter) -> None:
    text = "\n\n".join(filler_paragraph(i) for i in range(60))
    chunks = chunk_text(text, counter, 256)
    assert len(chunks) > 5
    _assert_covers(text, chunks, 256)
    assert "".join(c.text for c in chunks) == text


def test_cuts_fall_on_paragraph_boundaries_when_paragraphs_fit(counter: TokenCounter) -> None:
    text = "\n\n".join(filler_paragraph(i) for i in range(40))
    chunks = chunk_text(text, counter, 300)
    for chunk in chunks[:-1]:
        assert chunk.text.endswith("\n\n"), repr(chunk.text[-20:])


def test_long_paragraph_is_cut_at_sentences(counter: TokenCounter) -> None:
    text = " ".join(filler_paragraph(i) for i in range(30))  # one huge paragraph
    chunks = chunk_text(text, counter, 200)
    _assert_covers(text, chunks, 200)
    for chunk in chunks[:-1]:
        assert chunk.text.rstrip().endswith("."), repr(chunk.text[-20:])


def test_unbroken_text_is_cut_by_words_and_characters(counter: TokenCounter) -> None:
    text = "word " * 2000 + "x" * 3000
    chunks = chunk_text(text, counter, 150)
    _assert_covers(text, chunks, 150)


def test_blank_text_has_no_chunks(counter: TokenCounter) -> None:
    assert chunk_text("  \n\n ", counter, 128) == []


def test_truncate_to_tokens_keeps_a_prefix_within_budget(counter: TokenCounter) -> None:
    text = filler_paragraph(3) * 5
    cut = truncate_to_tokens(text, counter, 40)
    assert text.startswith(cut) and 0 < counter.count(cut) <= 40
    assert truncate_to_tokens("short", counter, 40) == "short"
