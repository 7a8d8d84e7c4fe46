"""Entities, task tags and the memory type of one sentence (MEMORY.md §16.2)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from lycheemem.domain.text import cues
from lycheemem.domain.text.terms import STOPWORDS, light_stem

__all__ = ["classify_sentence", "extract_entities", "tag_from", "task_tags"]

# --- entities and tags --------------------------------------------------------------------

_NAME_STOP = frozenset(
    {"yesterday", "today", "tomorrow", "last", "next", "this", "also", "then", "well", "wow",
     "hey", "hi", "thanks", "yeah", "oh", "after", "before", "when", "if", "just", "so",
     "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january",
     "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december", "ok", "okay", "yes", "no", "lol", "omg", "haha", "gonna",
     "wanna", "the user", "the assistant", "i'd", "i'll", "i've", "i'm", "i’d", "i’ll",
     "i’ve", "i’m"}
)  # fmt: skip
_CAP_SEQ = re.compile(
    r"(?<![\w'’])[A-Z][\w'’\-&]*(?:(?:\s+(?:of|the|de|da|van|von|del|la)){0,2}"
    r"\s+[A-Z][\w'’\-&]*)*"
)
_QUOTED = re.compile(r"\"([^\"\n]{2,60})\"|“([^”\n]{2,60})”|(?<![\w])'([^'\n]{2,60})'(?![\w])")
_HANDLE = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{2,30}")
_QUANTITY = re.compile(
    r"(?:[$€£¥]\s?\d[\d,]*(?:\.\d+)?[kKmM]?|\b\d[\d,]*(?:\.\d+)?\s?(?:%|km|kg|g|mb|gb|tb|kb|ms|"
    r"min|mins|minutes|hours?|hrs?|days?|weeks?|months?|years?|miles?|lbs?|pounds|k|m|usd|"
    r"dollars|euros|yuan|元|公里|小时|分钟|天|年|个月|岁)(?![\w]))",
    re.IGNORECASE,
)


def _clean_entity(text: str) -> str:
    return re.sub(r"['’]s$", "", text.strip(" ,.;:!?"))


def _capitalised_names(sentence: str) -> list[str]:
    names: list[str] = []
    for m in _CAP_SEQ.finditer(sentence):
        words = m.group(0).split()
        initial = sentence[: m.start()].strip(" \"'“‘([") == ""
        while words and (
            words[0].lower().strip("'’") in _NAME_STOP or words[0].lower() in STOPWORDS
        ):
            words = words[1:]
            initial = False
        if not words:
            continue
        if len(words) == 1 and initial:
            continue
        name = _clean_entity(" ".join(words))
        if name and name.lower() not in _NAME_STOP and name.lower() not in STOPWORDS:
            names.append(name)
    return names


def extract_entities(sentence: str, tools: Sequence[str], speaker: str | None) -> list[str]:
    """Return entities: names, quoted strings, @handles, quantities, tools, the speaker.

    A lone capitalised word at the start of the sentence is not taken as a name.
    De-duplicated case-insensitively, at most 16.
    """
    found: list[str] = []
    if speaker:
        found.append(speaker)
    found.extend(_capitalised_names(sentence))
    found.extend(next(g for g in m.groups() if g) for m in _QUOTED.finditer(sentence))
    found.extend(m.group(0) for m in _HANDLE.finditer(sentence))
    found.extend(m.group(0).strip() for m in _QUANTITY.finditer(sentence))
    found.extend(tools)
    seen: dict[str, str] = {}
    for ent in found:
        ent = ent.strip()
        if ent and ent.casefold() not in seen:
            seen[ent.casefold()] = ent
    return list(seen.values())[:16]


_IRREGULAR_PAST = {
    "went": "go", "ran": "run", "met": "meet", "made": "make", "took": "take", "got": "get",
    "bought": "buy", "saw": "see", "wrote": "write", "built": "build", "began": "begin",
    "gave": "give", "found": "find", "left": "leave", "felt": "feel", "taught": "teach",
    "read": "read", "won": "win", "lost": "lose", "spent": "spend", "drove": "drive",
    "flew": "fly", "ate": "eat", "sang": "sing", "swam": "swim", "came": "come",
    "brought": "bring", "thought": "think", "kept": "keep", "held": "hold", "sold": "sell",
    "told": "tell", "heard": "hear", "joined": "join", "started": "start",
}  # fmt: skip
_ACTION_STEMS = {
    light_stem(form): verb
    for verb, forms in cues.ACTION_VERBS.items()
    for form in forms
    if form.isascii() and " " not in form
}
_PHRASAL = re.compile(
    r"\b(?:(back)(?:ed|ing|s)?\s+up|(set)(?:ting|s)?\s+up|(roll)(?:ed|ing|s)?\s+back)\b",
    re.IGNORECASE,
)
_PHRASAL_VERBS = {"back": "back up", "set": "set up", "roll": "roll back"}
_PAST_VERB = re.compile(r"\b[a-z]{3,}ed\b")
_EVENT_ZH = re.compile(r"昨天|上周|去了|参加了|完成了|看了|买了|见了")


def task_tags(sentence: str) -> list[str]:
    """Task tags of a sentence: its action verbs with their objects (``back up postgres``)."""
    tags: dict[str, None] = {}
    for m in _PHRASAL.finditer(sentence):
        head = next(g for g in m.groups() if g).lower()
        tags.setdefault(_PHRASAL_VERBS[head], None)
    for word in re.findall(r"[A-Za-z]+", sentence):
        verb = _ACTION_STEMS.get(light_stem(word))
        if verb and verb not in ("set up", "back up", "roll back"):
            tags.setdefault(verb, None)
    for form, variants in cues.ACTION_VERBS.items():
        if any(not f.isascii() and len(f) > 1 and f in sentence for f in variants):
            tags.setdefault(form, None)
    if not tags:
        for word in re.findall(r"[A-Za-z]+", sentence.lower()):
            if word in _IRREGULAR_PAST:
                tags.setdefault(_IRREGULAR_PAST[word], None)
                break
    return list(tags)[:3]


def tag_from(obj: str) -> str | None:
    """A tag from an object phrase: its first three content words, or None."""
    words = [w for w in obj.lower().split() if w not in STOPWORDS][:3]
    tag = " ".join(words).strip(" .,;:")
    return tag[:60] or None


def _has_past_verb(sentence: str) -> bool:
    low = sentence.lower()
    return bool(_PAST_VERB.search(low)) or any(
        w in _IRREGULAR_PAST for w in re.findall(r"[a-z]+", low)
    )


# --- typing (§16.2) -----------------------------------------------------------------------


def classify_sentence(
    sentence: str, tools: Sequence[str], *, is_list_item: bool, has_date: bool
) -> str:
    """Return the memory type of one sentence; the first matching row of §16.2 wins."""
    if is_list_item or cues.procedure_cue(sentence):
        return "procedure"
    if cues.failure_cue(sentence):
        return "failure_pattern"
    if cues.constraint_cue(sentence):
        return "constraint"
    if cues.preference_cue(sentence):
        return "preference"
    if tools and cues.tool_affordance_cue(sentence, tools):
        return "tool_affordance"
    if (has_date and _has_past_verb(sentence)) or _EVENT_ZH.search(sentence):
        return "event"
    return "fact"
