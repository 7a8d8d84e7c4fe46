"""Issue 15: memory-only records read as standalone sentences a person would write.

The inputs are the issue's own: a 20-turn conversation of a backend engineer registered as
``dana`` (no display name), plus "I back up my Postgres" by "Alice Example".
"""

from __future__ import annotations

import re

from dana_conversation import DANA_TURNS

from lycheemem.consolidation.encode.heuristic import encode_turns
from lycheemem.domain.models import ExtractedRecord, Turn

CREATED = "2026-03-16T10:00:00.000Z"


def _turns(pairs: list[tuple[str, str]]) -> list[Turn]:
    return [
        Turn(
            user_id="u1",
            session_id="s1",
            turn_index=n,
            role=role,  # type: ignore[arg-type]
            content=text,
            created_at=CREATED,
        )
        for n, (role, text) in enumerate(pairs)
    ]


def _dana_records() -> list[ExtractedRecord]:
    records, _ = encode_turns(_turns(DANA_TURNS), user_display_name="dana", timezone="UTC")
    return records


def test_the_speaker_is_named_and_cased_without_tautology_or_bad_agreement() -> None:
    texts = [r.semantic_text for r in _dana_records()]
    joined = "\n".join(texts)
    assert not re.search(r"\bdana\b", joined), joined  # never the lower-case username
    assert "Dana is Dana" not in joined
    assert not re.search(r"\bDana (?:need|want|work|like)\b", joined), joined
    assert "Dana works as a backend engineer at Northwind Logistics." in texts
    assert "Dana is vegetarian, so they need restaurant suggestions." in texts


def test_pronouns_and_elliptical_answers_take_their_referent() -> None:
    texts = [r.semantic_text for r in _dana_records()]
    assert (
        "Asked what they are working on these days, Dana said: mostly the "
        "shipment-tracking service." in texts
    )
    # "It" is the service named two turns earlier (the assistant's "it" points there too).
    assert (
        "The shipment-tracking service is written in Go, runs on Kubernetes and stores "
        "everything in Postgres." in texts
    )
    assert (
        "Asked where they are staying in Kyoto, Dana said: a ryokan in Kyoto called Hiiragiya."
        in texts
    )
    fix = next(t for t in texts if "max_connections" in t)
    assert "pgxpool MaxConns to 40" in fix and "connection errors" in fix  # the question kept


def test_one_statement_per_record_not_neighbouring_ones_concatenated() -> None:
    texts = [r.semantic_text for r in _dana_records()]
    editor = next(t for t in texts if "Neovim" in t)
    assert editor == "Asked which editor they use for Go, Dana said: Neovim with gopls."
    assert "Dana can't stand VS Code." in texts
    assert "Please always give Dana code examples in Go." in texts
    assert not any("Neovim" in t and "VS Code" in t for t in texts)


def test_a_second_mention_is_a_pronoun_not_the_name_again() -> None:
    records, _ = encode_turns(
        _turns([("user", "I back up my Postgres every night with pg_dump to S3.")]),
        user_display_name="Alice Example",
        timezone="UTC",
    )
    assert [r.semantic_text for r in records] == [
        "Alice Example backs up their Postgres every night with pg_dump to S3."
    ]


def test_a_generated_id_is_never_a_name_and_an_introduction_teaches_one() -> None:
    records, _ = encode_turns(
        _turns([("user", "I prefer tea over coffee."), ("user", "I'm Dana, I live in Oslo.")]),
        user_display_name="user_3f9a2c",
        timezone="UTC",
    )
    texts = [r.semantic_text for r in records]
    assert texts[0] == "The user prefers tea over coffee."
    assert "The user's name is Dana." in texts and "Dana lives in Oslo." in texts
    assert not any("user_3f9a2c" in t for t in texts)
