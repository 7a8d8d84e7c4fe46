"""Memory-only encoder: turns -> typed records and skills without an LLM (MEMORY.md §16).

The encoder errs on the side of keeping information: a declarative sentence that is not
chit-chat becomes at least a ``fact``. Output uses the same ``ExtractedRecord`` /
``ExtractedSkill`` shapes as the LLM encoder, so post-processing is shared.

This module walks the turns and builds the records; its stages live beside it:
``sentences`` (splitting, chit-chat), ``decontextualise`` (pronouns to names), ``tagging``
(entities, tags, memory type), ``discourse`` (who speaks to whom) and ``procedures``
(skills).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from lycheemem.consolidation.encode import discourse
from lycheemem.consolidation.encode.decontextualise import decontextualise, fix_case
from lycheemem.consolidation.encode.procedures import skills_from_turns
from lycheemem.consolidation.encode.sentences import (
    MAX_TEXT,
    PHOTO_RE,
    is_chitchat,
    is_question,
    split_sentences,
    strip_chatter,
    too_short,
)
from lycheemem.consolidation.encode.tagging import (
    classify_sentence,
    extract_entities,
    tag_from,
    task_tags,
)
from lycheemem.domain.models import ExtractedRecord, ExtractedSkill, Temporal, Turn
from lycheemem.domain.text import cues
from lycheemem.domain.text.dates import annotate_dates, parse_loose_datetime
from lycheemem.domain.text.redact import contains_secret
from lycheemem.domain.text.terms import canon

__all__ = [
    "decontextualise",
    "encode_turns",
    "extract_entities",
    "is_chitchat",
    "split_sentences",
    "strip_chatter",
]

_ASSISTANT_TYPES = frozenset({"procedure", "tool_affordance", "failure_pattern"})
_CONFIDENCE = {"user": 0.7, "assistant": 0.5}


# --- per-turn encoding ---------------------------------------------------------------------


_QUESTION_CHARS = 120
_SHORT_ANSWER_WORDS = 14
# An assistant's question is the context of the user's whole first sentence: "How is the
# dog handling the noise?" - "Our beagle Pixel hides under the bed ..." (the dog is Pixel).
_AGENT_ANSWER_WORDS = 30


_TOPIC_TURNS = 3  # how many turns a topic ("the shipment-tracking service") stays "it"
_GENERIC_USER = "The user"


@dataclass(slots=True)
class _Discourse:
    """What the conversation is about, carried from turn to turn."""

    topic: str | None = None
    topic_turn: int = -1
    learned_name: str | None = None  # the user's name from "I'm Dana" when none was known

    def set_topic(self, topic: str | None, turn_index: int) -> None:
        """Remember ``topic`` as what a later "it" refers to."""
        if topic:
            self.topic, self.topic_turn = topic, turn_index

    def current_topic(self, turn_index: int) -> str | None:
        """The topic when it was set in the last few turns, else None."""
        if self.topic and turn_index - self.topic_turn <= _TOPIC_TURNS:
            return self.topic
        return None


@dataclass(slots=True)
class _TurnCtx:
    turn: Turn
    speaker: str | None
    first: str
    second: str | None
    reference: datetime | None
    timezone: str
    extra_tools: Sequence[str]
    names: frozenset[str]
    records: list[ExtractedRecord] = field(default_factory=list)
    question: str | None = None  # the question of the previous turn, by someone else
    asker: str | None = None  # who asked it ("the assistant" or a speaker's name)
    discourse: _Discourse = field(default_factory=_Discourse)
    answered: bool = False  # the first statement of the turn (the answer) was seen
    folded: set[int] = field(default_factory=set)  # ids of records holding their question


@dataclass(slots=True)
class _Block:
    """A plain sentence (no items) or a list run with the sentence before it."""

    text: str
    items: list[str] = field(default_factory=list)
    is_list: bool = False


def _speaker_name(turn: Turn) -> str | None:
    """The turn's speaker as a person's name (cased; ids are not names)."""
    speaker = discourse.speaker_of(turn)
    return discourse.person_name(speaker) if speaker else None


def _names_for(turn: Turn, speaker: str | None, user_name: str | None) -> tuple[str, str | None]:
    if turn.role == "assistant":
        return speaker or "The assistant", user_name or "The user"
    return speaker or user_name or "The user", None


def _build_record(ctx: _TurnCtx, sentence: str, *, is_list_item: bool) -> ExtractedRecord | None:
    turn = ctx.turn
    tools = cues.find_tools(sentence, ctx.extra_tools)
    text = decontextualise(sentence, first=ctx.first, second=ctx.second)
    temporal = Temporal()
    if ctx.reference is not None:
        text, temporal = annotate_dates(text, ctx.reference, ctx.timezone)
    memory_type = classify_sentence(
        sentence, tools, is_list_item=is_list_item, has_date=temporal.t_ref is not None
    )
    if turn.role == "assistant" and memory_type not in _ASSISTANT_TYPES:
        return None
    text = text[:MAX_TEXT]
    record = ExtractedRecord(
        memory_type=memory_type,
        semantic_text=text,
        normalized_text=canon(text),
        entities=extract_entities(sentence, tools, ctx.speaker),
        temporal=temporal,
        task_tags=task_tags(sentence),
        tool_tags=list(tools),
        source_turn_indexes=[turn.turn_index],
        source_role=turn.role,
        confidence=_CONFIDENCE.get(turn.role, 0.5),
    )
    _add_cue_tags(record, sentence, memory_type)
    return record


def _add_cue_tags(record: ExtractedRecord, sentence: str, memory_type: str) -> None:
    constraint = cues.constraint_cue(sentence)
    if constraint is not None:
        tag = tag_from(constraint.obj)
        if tag:
            record.constraint_tags.append(tag)
    failure = cues.failure_cue(sentence)
    if failure is not None:
        record.failure_tags.append(tag_from(failure.obj) or failure.cue)
    if memory_type in ("tool_affordance", "procedure") or record.tool_tags:
        record.affordance_tags.extend(cues.find_affordances(sentence)[:3])


def _photo_record(ctx: _TurnCtx, photo: str) -> ExtractedRecord:
    text = f"{ctx.first} {photo}"[:MAX_TEXT]
    return ExtractedRecord(
        memory_type="fact",
        semantic_text=text,
        normalized_text=canon(text),
        entities=[ctx.speaker] if ctx.speaker else [],
        source_turn_indexes=[ctx.turn.turn_index],
        source_role=ctx.turn.role,
        confidence=_CONFIDENCE.get(ctx.turn.role, 0.5),
    )


def _attach_photo(record: ExtractedRecord, photo: str) -> None:
    record.semantic_text = (record.semantic_text + " " + photo)[:MAX_TEXT]
    record.normalized_text = canon(record.semantic_text)


def _keep_sentence(raw: str, names: frozenset[str]) -> str | None:
    """Return the cleaned sentence to encode, or None when it carries no memory."""
    if is_question(raw) or contains_secret(raw):
        return None
    cleaned = strip_chatter(raw, names)
    if not cleaned or is_chitchat(cleaned) or too_short(cleaned):
        return None
    return cleaned


def _blocks(pairs: list[tuple[str, bool]]) -> list[_Block]:
    blocks: list[_Block] = []
    for text, is_item in pairs:
        if not is_item:
            blocks.append(_Block(text))
        elif blocks and blocks[-1].is_list:
            blocks[-1].items.append(text)
        elif blocks:
            blocks[-1].is_list = True
            blocks[-1].items.append(text)
        else:
            blocks.append(_Block("", [text], True))
    return blocks


def _is_procedural(block: _Block) -> bool:
    if len(block.items) < 2:
        return False
    head = block.text
    return (
        cues.has_action_cue(head)
        or cues.procedure_cue(head)
        or any(cues.has_action_cue(item) for item in block.items)
    )


def _emit_sentence(ctx: _TurnCtx, raw: str) -> None:
    answering = ctx.question is not None and not ctx.answered and ctx.turn.role == "user"
    for part in discourse.split_comma_splice(raw, answering=answering):
        _emit_statement(ctx, part)


def _introduce(ctx: _TurnCtx, cleaned: str) -> str | None:
    """Handle "I'm Dana, ...": returns the rest of the sentence (None: nothing left).

    The user's name is learned when none was known ("The user's name is Dana." is
    stored); an introduction that repeats the known name is dropped, so no record reads
    "Dana is Dana".
    """
    intro = discourse.self_introduction(cleaned)
    if intro is None or ctx.turn.role != "user":
        return cleaned
    name, rest = intro
    if ctx.first == _GENERIC_USER:
        ctx.discourse.learned_name = name
        ctx.first = name
        text = f"The user's name is {name}."
        ctx.records.append(
            ExtractedRecord(
                memory_type="fact",
                semantic_text=text,
                normalized_text=canon(text),
                entities=[name],
                source_turn_indexes=[ctx.turn.turn_index],
                source_role=ctx.turn.role,
                confidence=_CONFIDENCE.get(ctx.turn.role, 0.5),
            )
        )
    elif name.casefold() not in (ctx.first.casefold(), ctx.first.split()[0].casefold()):
        return cleaned
    return rest if rest and not is_chitchat(rest) and not too_short(rest) else None


def _emit_statement(ctx: _TurnCtx, raw: str) -> None:
    cleaned = _keep_sentence(raw, ctx.names)
    if cleaned is None:
        if ctx.turn.role == "user" and not is_question(raw):
            # "Following up on the car rental." is no memory, but it says what comes next
            # is about: "Did you find one?" - "Yes, a Renault Clio".
            ctx.discourse.set_topic(discourse.topic_of_answer(raw), ctx.turn.turn_index)
        return
    cleaned = _introduce(ctx, cleaned)
    if cleaned is None:
        return
    turn_index = ctx.turn.turn_index
    cleaned = discourse.resolve_it(cleaned, ctx.discourse.current_topic(turn_index))
    record = _build_record(ctx, cleaned, is_list_item=False)
    if record is None:
        return
    text = discourse.drop_tautology(record.semantic_text)
    if not text:
        return
    answering = ctx.question is not None and not ctx.answered and ctx.turn.role == "user"
    ctx.answered = True
    if answering and ctx.question is not None and discourse.is_elliptical(cleaned):
        # "Mostly the shipment-tracking service." means nothing without what was asked.
        topic = ctx.discourse.current_topic(turn_index)
        text = fix_case(discourse.fold_answer(text, ctx.question, ctx.first, topic))
        ctx.discourse.set_topic(discourse.topic_of_answer(cleaned), turn_index)
        ctx.folded.add(id(record))
    elif (
        answering
        and ctx.asker == _ASSISTANT
        and ctx.question is not None
        and len(text.split()) <= _AGENT_ANSWER_WORDS
        and (_UNRESOLVED.search(cleaned) or _question_adds(ctx.question, cleaned))
    ):
        # "We fixed them: ..." or "We booked an Airbnb near the waterfront." answers the
        # assistant's question ("... in Porto?"); keep the question with it.
        text = (
            f'{text.rstrip(" .")} (replying to {_ASSISTANT}: "{ctx.question[:_QUESTION_CHARS]}").'
        )
        ctx.folded.add(id(record))
    record.semantic_text = text[:MAX_TEXT]
    record.normalized_text = canon(record.semantic_text)
    ctx.records.append(record)


def _question_adds(question: str, answer: str) -> bool:
    """Whether ``question`` names something the answer leaves out: a name ("... in Porto?")
    or the thing asked about ("How is the dog handling the noise?"). A question that itself
    points back ("What's the stack behind it?") adds nothing reliable."""
    if _UNRESOLVED.search(question):
        return False
    low = answer.casefold()
    names = re.findall(r"(?<=\s)[A-Z][\w\-]+", question)
    topic = discourse.topic_of_question(question, None)
    if topic:
        names.append(topic.split()[-1])
    return any(name.casefold() not in low for name in names)


_ASSISTANT = "the assistant"
_UNRESOLVED = re.compile(r"\b(?:it|them|they|this|that|those|these|there)\b", re.IGNORECASE)


def _emit_procedure(ctx: _TurnCtx, block: _Block) -> None:
    items = [item for item in block.items if not contains_secret(item)]
    head = block.text.strip().rstrip(" :：")
    if contains_secret(head) or is_question(head):
        head = ""
    text = (head + ": " if head else "") + "; ".join(item.rstrip(" .;") for item in items)
    record = _build_record(ctx, text, is_list_item=True)
    if record is not None:
        ctx.records.append(record)


def _encode_turn(ctx: _TurnCtx) -> None:
    content = discourse.strip_speaker_prefix(ctx.turn.content or "", ctx.speaker)
    photo_match = PHOTO_RE.search(content)
    photo = photo_match.group(1) if photo_match else None
    if photo_match:
        content = content[: photo_match.start()]
    for block in _blocks(split_sentences(content)):
        if block.is_list and _is_procedural(block):
            _emit_procedure(ctx, block)
            continue
        for raw in (block.text, *block.items):
            if raw:
                _emit_sentence(ctx, raw)
    if photo and not contains_secret(photo):
        if ctx.records:
            _attach_photo(ctx.records[-1], photo)
        elif ctx.turn.role == "user":
            ctx.records.append(_photo_record(ctx, photo))


def _set_question(ctx: _TurnCtx, previous: Turn | None) -> None:
    """The question the turn may answer: the last one of the previous turn, when someone
    else asked it; its noun phrase becomes the conversation's topic."""
    if previous is None:
        return
    same_party = previous.role == ctx.turn.role and (
        (discourse.speaker_of(previous) or "").casefold() == (ctx.speaker or "").casefold()
    )
    if same_party:
        return
    question = _last_question(previous)
    if question is None:
        return
    ctx.question = question
    ctx.asker = _ASSISTANT if previous.role == "assistant" else _speaker_name(previous)
    if _UNRESOLVED.search(question):
        # "What's the stack behind it?" is still about the earlier topic.
        return
    owner = ctx.first if ctx.turn.role == "user" else None
    ctx.discourse.set_topic(discourse.topic_of_question(question, owner), ctx.turn.turn_index)


def _addressee(previous: Turn | None, speaker: str | None) -> str | None:
    """In a conversation between named people, "you" in a turn means the previous speaker."""
    if previous is None or previous.role != "user" or speaker is None:
        return None
    other = discourse.speaker_of(previous)
    if other is None or other.casefold() == speaker.casefold():
        return None
    return other


def _last_question(turn: Turn) -> str | None:
    content = discourse.strip_speaker_prefix(turn.content or "", discourse.speaker_of(turn))
    content = PHOTO_RE.sub("", content)
    questions = [
        text for text, _ in split_sentences(content) if text.rstrip().endswith(("?", "？"))
    ]
    return questions[-1].strip() if questions else None


def _attach_question(
    records: list[ExtractedRecord],
    previous: Turn | None,
    addressee: str | None,
    folded: set[int],
) -> None:
    """Keep the question a short answer replies to, so "It's a mix of drama and romance"
    stays findable by what was asked ("What genre is the screenplay?")."""
    if previous is None or addressee is None or not records:
        return
    question = _last_question(previous)
    if question is None:
        return
    question = question[:_QUESTION_CHARS]
    for record in records:
        if id(record) in folded or len(record.semantic_text.split()) > _SHORT_ANSWER_WORDS:
            continue
        record.semantic_text = f'{record.semantic_text} (replying to {addressee}: "{question}")'
        record.normalized_text = canon(record.semantic_text)


def _parse_reference(created_at: str | None, timezone: str) -> datetime | None:
    if not created_at:
        return None
    try:
        return parse_loose_datetime(created_at, timezone)
    except (ValueError, KeyError):
        return None


def _merge_duplicates(records: list[ExtractedRecord]) -> list[ExtractedRecord]:
    by_text: dict[str, ExtractedRecord] = {}
    for record in records:
        prior = by_text.get(record.normalized_text)
        if prior is None:
            by_text[record.normalized_text] = record
            continue
        for index in record.source_turn_indexes:
            if index not in prior.source_turn_indexes:
                prior.source_turn_indexes.append(index)
    return list(by_text.values())


def _known_names(turns: Sequence[Turn], user_display_name: str | None) -> frozenset[str]:
    found = {discourse.speaker_of(t) for t in turns} | {user_display_name}
    return frozenset(n.casefold() for n in found if n)


def encode_turns(
    turns: Sequence[Turn],
    *,
    user_display_name: str | None,
    timezone: str,
    extra_tools: Sequence[str] = (),
) -> tuple[list[ExtractedRecord], list[ExtractedSkill]]:
    """Encode a batch of turns into records and skills, deterministically.

    Each kept sentence becomes one record (source = its turn index); identical
    normalised texts are merged. Assistant turns only yield procedure, tool_affordance
    and failure_pattern records. Relative dates resolve against each turn's
    ``created_at`` (ISO or human form such as ``1:56 pm on 8 May, 2023``); a turn
    without a parsable time keeps its relative phrases unresolved.
    """
    records: list[ExtractedRecord] = []
    names = _known_names(turns, user_display_name)
    state = _Discourse()
    user_name = discourse.person_name(user_display_name)
    previous: Turn | None = None
    for turn in turns:
        speaker = discourse.speaker_of(turn)
        first, second = _names_for(turn, _speaker_name(turn), user_name or state.learned_name)
        addressee = _addressee(previous, speaker)
        if second is None and addressee is not None:
            second = discourse.person_name(addressee) or addressee
        ctx = _TurnCtx(
            turn=turn,
            speaker=speaker,
            first=first,
            second=second,
            reference=_parse_reference(turn.created_at, timezone),
            timezone=timezone,
            extra_tools=extra_tools,
            names=names,
            discourse=state,
        )
        _set_question(ctx, previous)
        _encode_turn(ctx)
        _attach_question(ctx.records, previous, addressee, ctx.folded)
        records.extend(ctx.records)
        previous = turn
    return _merge_duplicates(records), skills_from_turns(turns)
