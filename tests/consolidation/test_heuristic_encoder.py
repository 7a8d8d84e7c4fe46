"""Tests for the memory-only encoder (sentence handling, typing, decontextualisation)."""

from __future__ import annotations

from lycheemem.consolidation.encode.heuristic import (
    decontextualise,
    encode_turns,
    is_chitchat,
    split_sentences,
    strip_chatter,
)
from lycheemem.domain.models import ExtractedRecord, Turn
from lycheemem.domain.text.terms import canon

CREATED = "2026-03-16T10:00:00.000Z"  # a Monday


def _turn(
    content: str,
    index: int = 0,
    role: str = "user",
    speaker: str | None = None,
    created_at: str = CREATED,
) -> Turn:
    return Turn(
        user_id="u1",
        session_id="s1",
        turn_index=index,
        role=role,  # type: ignore[arg-type]
        content=content,
        created_at=created_at,
        speaker=speaker,
    )


def _encode(*turns: Turn, name: str | None = "Alice") -> list[ExtractedRecord]:
    records, _ = encode_turns(list(turns), user_display_name=name, timezone="UTC")
    return records


def _texts(records: list[ExtractedRecord]) -> list[str]:
    return [r.semantic_text for r in records]


def test_split_sentences_respects_numbers_urls_abbreviations() -> None:
    text = "Version 3.14 is out. See https://example.com/a.b for e.g. details! Dr. Smith agreed"
    assert [s for s, _ in split_sentences(text)] == [
        "Version 3.14 is out.",
        "See https://example.com/a.b for e.g. details!",
        "Dr. Smith agreed",
    ]
    assert split_sentences("我喜欢猫。她喜欢狗！") == [("我喜欢猫。", False), ("她喜欢狗！", False)]
    assert split_sentences("Steps:\n1. build\n2. push") == [
        ("Steps:", False),
        ("build", True),
        ("push", True),
    ]


def test_chatter_and_chitchat_detection() -> None:
    names = frozenset({"caroline", "melanie"})
    assert strip_chatter("Wow, Melanie! The colors blend nicely.", names) == (
        "The colors blend nicely."
    )
    assert strip_chatter("Yeah, I painted that last year!", names) == "I painted that last year!"
    assert strip_chatter("Totally agree, Mel.", names) == "Totally agree."
    assert strip_chatter("I moved here from Paris, France.", names) == (
        "I moved here from Paris, France."
    )
    for chat in ["Thanks!", "Wow, that's great!", "Good to see you!", "Talk to you soon!", "谢谢"]:
        assert is_chitchat(strip_chatter(chat, names)), chat
    for fact in ["I'm a teacher.", "Thanks to my mom I learned to paint.", "I moved to Berlin."]:
        assert not is_chitchat(strip_chatter(fact, names)), fact


def test_decontextualise_agreement_rules() -> None:
    assert decontextualise("I am a teacher", first="Bob") == "Bob is a teacher"
    # A second mention in one sentence is a pronoun with plural agreement.
    assert decontextualise("I'm vegan and I've two cats", first="Bob") == (
        "Bob is vegan and they have two cats"
    )
    assert decontextualise("I was late", first="Bob") == "Bob was late"
    assert decontextualise("I really like my bike", first="Bob") == "Bob really likes their bike"
    assert decontextualise("I went home", first="Bob") == "Bob went home"
    assert decontextualise("I don't eat meat", first="Bob") == "Bob doesn't eat meat"
    assert decontextualise("you should restart your server", first="Bot", second="Bob") == (
        "Bob should restart their server"
    )
    assert decontextualise("You said you like tea", first="X") == "You said you like tea"
    assert decontextualise("我的猫喜欢我", first="小明") == "小明的猫喜欢小明"
    assert decontextualise("i.e. fine", first="Bob") == "I.e. fine"


def test_short_informative_sentences_survive_and_chitchat_is_dropped() -> None:
    records = _encode(_turn("Thanks! I'm a teacher. Wow, that's great! How are you?"))
    assert _texts(records) == ["Alice is a teacher."]
    assert records[0].memory_type == "fact"
    assert records[0].normalized_text == canon("Alice is a teacher.")
    assert records[0].confidence == 0.7
    assert records[0].source_turn_indexes == [0]
    assert records[0].source_role == "user"


def test_typing_rows() -> None:
    turns = [
        _turn("First build the image, then push it to the registry.", 0),
        _turn("The helm upgrade failed because the namespace was kube-system.", 1),
        _turn("Production deploys must pass the migration dry-run first.", 2),
        _turn("I prefer window seats on long flights.", 3),
        _turn("ruff can auto-fix import order with --fix.", 4),
        _turn("I ran a half marathon last Saturday.", 5),
        _turn("My sister lives in Lisbon.", 6),
    ]
    types = [r.memory_type for r in _encode(*turns)]
    assert types == [
        "procedure",
        "failure_pattern",
        "constraint",
        "preference",
        "tool_affordance",
        "event",
        "fact",
    ]


def test_event_date_resolution_against_turn_time() -> None:
    (record,) = _encode(_turn("I ran a half marathon last Saturday."))
    assert record.semantic_text == "Alice ran a half marathon last Saturday (2026-03-14)."
    assert record.temporal.t_ref == "2026-03-14"
    assert "2026-03-14" in record.normalized_text


def test_locomo_style_turn() -> None:
    turn = _turn(
        "Caroline: I went to a LGBTQ support group yesterday and it was so powerful.",
        speaker="Caroline",
        created_at="1:56 pm on 8 May, 2023",
    )
    (record,) = _encode(turn, name=None)
    assert record.semantic_text.startswith("Caroline went to a LGBTQ support group yesterday")
    assert "(2023-05-07)" in record.semantic_text
    assert record.memory_type == "event"
    assert "Caroline" in record.entities and "LGBTQ" in record.entities


def test_speaker_prefix_only_stripped_when_it_matches() -> None:
    (kept,) = _encode(_turn("Berlin: the office moved there.", speaker="Caroline"))
    assert kept.semantic_text.startswith("Berlin:")


def test_photo_suffix_stays_attached() -> None:
    content = (
        "Melanie: I painted that lake sunrise last year! What do you think? "
        "[shares a photo: a photo of a painting of a sunset over a lake]"
    )
    turn = _turn(content, speaker="Melanie", created_at="1:56 pm on 8 May, 2023")
    (record,) = _encode(turn)
    assert record.semantic_text.endswith(
        "[shares a photo: a photo of a painting of a sunset over a lake]"
    )
    assert "last year (2022)" in record.semantic_text
    only_photo = _turn("Melanie: Wow! [shares a photo: a red barn]", speaker="Melanie")
    (photo_record,) = _encode(only_photo)
    assert photo_record.semantic_text == "Melanie [shares a photo: a red barn]"


def test_assistant_turns_keep_only_action_types() -> None:
    turn = _turn(
        "You told me you like jazz. Your deploy failed because the token expired. "
        "kubectl can show events with describe.",
        role="assistant",
    )
    records = _encode(turn, name="Bob")
    assert [r.memory_type for r in records] == ["failure_pattern", "tool_affordance"]
    assert records[0].semantic_text.startswith("Bob's deploy failed")
    assert all(r.confidence == 0.5 and r.source_role == "assistant" for r in records)


def test_tags_and_entities() -> None:
    (record,) = _encode(
        _turn('Alice deployed "billing-api" to kube-system with helm and it took 30 minutes.')
    )
    assert "helm" in record.tool_tags
    assert "deploy" in record.task_tags
    assert "billing-api" in record.entities and "30 minutes" in record.entities
    (failure,) = _encode(_turn("The nightly backup failed because the disk was full."))
    assert failure.failure_tags == ["disk full"]


def test_secrets_are_never_encoded() -> None:
    assert _encode(_turn("My password=hunter22 for the staging box.")) == []


def test_duplicates_merge_source_turns() -> None:
    records = _encode(_turn("I live in Oslo.", 0), _turn("I live in Oslo.", 3))
    assert len(records) == 1 and records[0].source_turn_indexes == [0, 3]


def test_numbered_steps_make_one_procedure_and_a_skill() -> None:
    content = (
        "To back up Postgres:\n1. Run pg_dump on the primary\n2. Compress the dump\n"
        "3. Upload it to S3\nNever run it during peak hours."
    )
    records, skills = encode_turns([_turn(content, 2)], user_display_name="Alice", timezone="UTC")
    procedures = [r for r in records if r.memory_type == "procedure"]
    assert len(procedures) == 1
    assert procedures[0].semantic_text.startswith("To back up Postgres: Run pg_dump")
    assert "pg_dump" in procedures[0].tool_tags
    assert len(skills) == 1
    skill = skills[0]
    assert skill.intent == "To back up Postgres"
    assert skill.doc_markdown.splitlines() == [
        "1. Run pg_dump on the primary",
        "2. Compress the dump",
        "3. Upload it to S3",
    ]
    assert "Never run it during peak hours." in skill.conditions
    assert skill.source_turn_indexes == [2]


def test_two_steps_are_not_a_skill_and_plain_bullets_stay_facts() -> None:
    _, skills = encode_turns(
        [_turn("Deploy:\n1. build\n2. push")], user_display_name=None, timezone="UTC"
    )
    assert skills == []
    records = _encode(_turn("Facts about me:\n- I have two cats\n- I live in Oslo"))
    assert [r.memory_type for r in records] == ["fact", "fact", "fact"]
    assert "Alice has two cats" in _texts(records)


def test_chinese_turn() -> None:
    records = _encode(_turn("我昨天去了北京。我喜欢吃火锅。谢谢"), name="小明")
    assert _texts(records) == ["小明昨天(2026-03-15)去了北京。", "小明喜欢吃火锅。"]
    assert [r.memory_type for r in records] == ["event", "preference"]


def test_unparsable_created_at_keeps_relative_phrase() -> None:
    (record,) = _encode(_turn("I moved to Oslo yesterday.", created_at="whenever"))
    assert record.semantic_text == "Alice moved to Oslo yesterday."
    assert record.temporal.t_ref is None


def _conversation_turn(index: int, speaker: str, text: str) -> Turn:
    return Turn(
        user_id="",
        session_id="s",
        turn_index=index,
        role="user",
        content=f"{speaker}: {text}",
        created_at="2023-05-08T13:56:00Z",
        speaker=speaker,
    )


def test_you_in_a_conversation_means_the_previous_speaker() -> None:
    turns = [
        _conversation_turn(0, "Gina", "I signed the lease for my new store today."),
        _conversation_turn(1, "Jon", "You found the perfect spot for your store."),
    ]
    records, _ = encode_turns(turns, user_display_name=None, timezone="UTC")
    jon = [r for r in records if r.source_turn_indexes == [1]]
    assert jon and "Gina found the perfect spot for their store" in jon[0].semantic_text


def test_a_short_answer_keeps_the_question_it_replies_to() -> None:
    turns = [
        _conversation_turn(0, "Nate", "Congrats! What genre is your first screenplay?"),
        _conversation_turn(1, "Joanna", "It's a mix of drama and romance!"),
    ]
    records, _ = encode_turns(turns, user_display_name=None, timezone="UTC")
    answer = [r for r in records if r.source_turn_indexes == [1]][0]
    assert "drama and romance" in answer.semantic_text
    assert 'replying to Nate: "What genre is your first screenplay?"' in answer.semantic_text


def test_numbered_steps_on_one_line_make_a_skill() -> None:
    content = "To deploy the blog: 1. Run make build 2. Push the image 3. Restart the service."
    _, skills = encode_turns([_turn(content)], user_display_name="Alice", timezone="UTC")
    assert len(skills) == 1
    assert skills[0].intent == "To deploy the blog"
    assert skills[0].doc_markdown.splitlines() == [
        "1. Run make build",
        "2. Push the image",
        "3. Restart the service.",
    ]


def test_numbers_out_of_order_are_not_an_inline_list() -> None:
    content = "I deployed v2. Then at 5. I ran 3. tests and 1. more build"
    _, skills = encode_turns([_turn(content)], user_display_name="Alice", timezone="UTC")
    assert skills == []
