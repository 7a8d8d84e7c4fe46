"""Module 2 in memory-only mode: conflict detection and similarity clustering (pure).

The consolidation engine feeds these with embeddings it already computed;
nothing here touches storage.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CONFLICT_TYPES",
    "UPDATE_CUE",
    "Claim",
    "claim_of",
    "supersedes",
    "updates",
    "cluster_by_similarity",
    "composite_text",
    "composite_type_for",
    "conflicts",
    "jaccard",
    "type_family",
]

CONFLICT_TYPES = frozenset({"fact", "preference", "constraint", "event"})
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_NEGATION = re.compile(r"\b(?:not|no longer|never|n't|no)\b|不再|不|没有", re.IGNORECASE)
_FAMILIES = {
    "preference": "preference",
    "constraint": "constraint",
    "event": "event",
    "procedure": "action",
    "tool_affordance": "action",
    "fact": "fact",
    "failure_pattern": "fact",
}
_COMPOSITE_FOR_FAMILY = {
    "preference": "composite_preference",
    "constraint": "composite_constraint",
    "event": "composite_event",
    "action": "usage_pattern",
}
MAX_COMPOSITE_CHARS = 600


def type_family(memory_type: str) -> str:
    """The clustering family of a record or composite type."""
    if memory_type.startswith("composite_") or memory_type == "usage_pattern":
        return memory_type
    return _FAMILIES.get(memory_type, "fact")


def composite_type_for(member_types: Sequence[str]) -> str:
    """The composite type that follows its members' types (MEMORY.md §12.5)."""
    families = {type_family(t) for t in member_types}
    if len(families) == 1:
        family = families.pop()
        if family in _COMPOSITE_FOR_FAMILY:
            return _COMPOSITE_FOR_FAMILY[family]
        if family.startswith("composite_") or family == "usage_pattern":
            return family
    return "composite_pattern"


def conflicts(new_text: str, old_text: str) -> bool:
    """True when two near-identical statements differ in a number, a date or a negation."""
    if set(_NUMBER.findall(new_text)) != set(_NUMBER.findall(old_text)):
        return True
    return bool(_NEGATION.search(new_text)) != bool(_NEGATION.search(old_text))


def cluster_by_similarity(
    vectors: np.ndarray, *, threshold: float, max_group: int, families: Sequence[str]
) -> list[list[int]]:
    """Union-find over pairs of one family with cosine ≥ ``threshold``.

    Returns clusters of 2..``max_group`` row indexes; larger components are
    split greedily around their most connected members.
    """
    count = len(vectors)
    if count < 2:
        return []
    similarity = vectors @ vectors.T
    parent = list(range(count))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    rows, cols = np.nonzero(np.triu(similarity >= threshold, k=1))
    for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
        if families[i] == families[j]:
            parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for index in range(count):
        groups.setdefault(find(index), []).append(index)
    clusters: list[list[int]] = []
    for members in groups.values():
        clusters.extend(_split(members, similarity, max_group))
    return [c for c in clusters if len(c) >= 2]


def _split(members: list[int], similarity: np.ndarray, max_group: int) -> list[list[int]]:
    if len(members) <= max_group:
        return [sorted(members)]
    remaining = list(members)
    parts: list[list[int]] = []
    while remaining:
        sub = similarity[np.ix_(remaining, remaining)]
        seed = remaining[int(np.argmax(sub.sum(axis=1)))]
        order = sorted(remaining, key=lambda j: -similarity[seed, j])
        group = order[:max_group]
        parts.append(sorted(group))
        remaining = [j for j in remaining if j not in group]
    return parts


def composite_text(texts: Sequence[str], limit: int = MAX_COMPOSITE_CHARS) -> str:
    """Members' texts de-duplicated and joined with ``; `` (at most ``limit`` characters)."""
    seen: set[str] = set()
    parts: list[str] = []
    for text in texts:
        clean = text.strip().rstrip(".。")
        key = clean.casefold()
        if clean and key not in seen:
            seen.add(key)
            parts.append(clean)
    joined = "; ".join(parts)
    if len(joined) > limit:
        joined = joined[: limit - 1].rstrip() + "…"
    return joined


def jaccard(a: frozenset[str] | set[str], b: frozenset[str] | set[str]) -> float:
    """Jaccard similarity of two sets (0 for two empty sets)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


# --- corrections: a newer statement about the same subject and attribute -----------------

UPDATE_CUE = re.compile(
    r"\b(?:now|moved|changed|switched|no\s+longer|actually|instead|anymore|any\s+more|"
    r"updated|rescheduled|postponed|from\s+now\s+on|these\s+days|replaced)\b",
    re.IGNORECASE,
)
_ASIDE = re.compile(r"\s*\([^)]*\)")
_FILLER = re.compile(r"\b(?:now|currently|actually|still|instead|officially)\b\s*", re.I)
_DETERMINER = re.compile(r"^(?:the|a|an|our|their|his|her|its)\s+", re.IGNORECASE)
_POSSESSIVE_ATTR = re.compile(
    r"^(?P<subj>[Tt]he\s+user|[A-Z][\w\-]*(?:\s+[A-Z][\w\-]*){0,2})['’]s\s+"
    r"(?P<attr>[a-z][\w\-]*(?:\s+[a-z][\w\-]*){0,2}?)\s+"
    r"(?:is|are|was|has\s+become|became|will\s+be)\s+(?P<val>.+)$"
)
_SCHEDULED = re.compile(
    r"^(?P<subj>(?:the|our|the\s+user['’]s|[A-Z][\w\-]*['’]s)\s+[\w\-]+(?:\s+[\w\-]+){0,3}?)\s+"
    r"(?:is|was|will\s+be|has\s+been)\s+(?:(?:now|actually)\s+)?"
    r"(?:(?:moved|rescheduled|set|planned|booked|scheduled)\s+)?"
    r"(?P<prep>on|at|in|for)\s+(?P<val>.+)$",
    re.IGNORECASE,
)
_MOVED = re.compile(
    r"^(?P<subj>(?:the|our|the\s+user['’]s|[A-Z][\w\-]*['’]s)\s+[\w\-]+(?:\s+[\w\-]+){0,3}?)\s+"
    r"(?:has\s+|was\s+|got\s+|is\s+|have\s+been\s+|has\s+been\s+)?(?:been\s+)?"
    r"(?:moved|changed|switched|shifted|rescheduled|pushed|postponed)"
    r"(?:\s+(?:back|forward|out))?\s+(?:from\s+(?P<old>.+?)\s+)?to\s+(?P<val>.+)$",
    re.IGNORECASE,
)
_SWITCHED = re.compile(
    r"(?:^|\s)(?P<subj>[A-Z][\w\-]*)\s+(?:has\s+|have\s+)?"
    r"(?:switched|changed)\s+from\s+(?P<old>.+?)\s+to\s+(?P<val>.+)$"
)
_INSTEAD = re.compile(
    r"^(?P<subj>[A-Z][\w\-]*(?:\s+[\w\-]+){0,3}?)\s+(?:is|are|was|will\s+be)\s+"
    r"(?P<val>.+?)\s+(?:now\s+)?instead\s+of\s+(?P<old>.+)$"
)
_CHANGED = re.compile(
    r"^(?P<subj>(?:the|our|the\s+user['’]s|[A-Z][\w\-]*['’]s)\s+[\w\-]+(?:\s+[\w\-]+){0,3}?)\s+"
    r"(?:has\s+|was\s+|got\s+)?(?:changed|moved|been\s+changed|been\s+moved)\s*[:,;\-–]\s*"
    r"(?P<val>.+)$",
    re.IGNORECASE,
)
_STATE = re.compile(
    r"^(?P<subj>(?:the|our|the\s+user['’]s|[A-Z][\w\-]*['’]s)\s+[\w\-]+(?:\s+[\w\-]+){0,3}?)\s+"
    r"(?:is|are|was|were|will\s+be)\s+(?P<val>.+)$",
    re.IGNORECASE,
)
_VERB_ATTR = re.compile(
    r"^(?P<subj>[Tt]he\s+user|[A-Z][\w\-]*(?:\s+[A-Z][\w\-]*){0,2})\s+(?:(?:now|actually|instead)\s+)?"
    r"(?P<verb>works\s+(?:at|for)|lives\s+in|is\s+based\s+in|uses|prefers|drives|reports\s+to)"
    r"\s+(?P<val>.+)$"
)


@dataclass(frozen=True, slots=True)
class Claim:
    """What a statement says about one attribute of one subject.

    ``kind`` is ``attribute`` ("Dana's manager is X"), ``schedule`` ("the dinner is on
    Friday"), ``move`` ("the dinner moved from Friday to Saturday", ``old`` = Friday) or
    ``verb`` ("Dana uses Vim").
    """

    kind: str
    subject: str
    attribute: str
    value: str
    old: str | None = None
    value_kind: str = "other"  # "name" (capitalised), "number" (digits) or "other"


def _norm(text: str) -> str:
    text = _FILLER.sub("", text)
    text = re.sub(r"[\s.,;:!?]+$", "", text.strip())
    return " ".join(_DETERMINER.sub("", text.casefold()).split())


def _value_kind(raw: str) -> str:
    value = _FILLER.sub("", raw).strip()
    value = _DETERMINER.sub("", value)
    if re.match(r"\d", value):
        return "number"
    return "name" if value[:1].isupper() else "other"


def claim_of(text: str) -> Claim | None:
    """The subject/attribute/value a statement asserts, when it has one of the simple
    shapes above; None otherwise (most statements)."""
    plain = _ASIDE.sub("", text).strip().rstrip(".!;")
    plain = re.sub(r"^(?:so|and|but|also|then)\s*,?\s+", "", plain, flags=re.IGNORECASE)
    m = _MOVED.match(plain)
    if m:
        old = _norm(m.group("old")) if m.group("old") else None
        return Claim("move", _norm(m.group("subj")), "*", _norm(m.group("val")), old)
    m = _INSTEAD.match(plain)
    if m:
        value, old = _norm(m.group("val")), _norm(m.group("old"))
        return Claim("move", _norm(m.group("subj")), "*", value, old)
    m = _SWITCHED.search(plain)
    if m:
        old = _norm(m.group("old"))
        return Claim("move", _norm(m.group("subj")), "*", _norm(m.group("val")), old)
    m = _CHANGED.match(plain)
    if m:
        return Claim("move", _norm(m.group("subj")), "*", _norm(m.group("val")))
    m = _POSSESSIVE_ATTR.match(plain)
    if m:
        subject = _norm(m.group("subj"))
        value = m.group("val")
        return Claim(
            "attribute", subject, _norm(m.group("attr")), _norm(value), None, _value_kind(value)
        )
    m = _SCHEDULED.match(plain)
    if m:
        value = m.group("val")
        prep = m.group("prep").lower()
        return Claim(
            "schedule", _norm(m.group("subj")), prep, _norm(value), None, _value_kind(value)
        )
    m = _STATE.match(plain)
    if m:
        value = m.group("val")
        return Claim("state", _norm(m.group("subj")), "is", _norm(value), None, _value_kind(value))
    m = _VERB_ATTR.match(plain)
    if m:
        verb = " ".join(m.group("verb").lower().split())
        return Claim("verb", _norm(m.group("subj")), verb, _norm(m.group("val")))
    return None


def _mentions(text: str, phrase: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text.casefold()) is not None


def supersedes(new_text: str, old_text: str) -> bool:
    """True when ``new_text`` corrects ``old_text``: same subject and attribute, another value.

    "X's manager is now B" replaces "X's manager is A"; "the dinner is on Saturday" and
    "the dinner moved from Friday to Saturday" replace "the dinner is on Friday". A verb
    claim ("Dana uses Vim" -> "Dana now uses Helix") needs an update cue, because people use
    many tools at once; a plural attribute ("Dana's hobbies are ...") needs one too.
    """
    new = claim_of(new_text)
    if new is None:
        return False
    old = claim_of(old_text)
    cue = UPDATE_CUE.search(new_text) is not None
    if new.kind == "move":
        if new.old is None:
            return old is not None and old.subject == new.subject and old.value != new.value
        return _mentions(old_text, new.subject) and _mentions(old_text, new.old)
    if old is None or old.subject != new.subject or old.value == new.value:
        return False
    if old.kind == "move":
        return new.kind == "schedule" and cue
    if old.kind != new.kind or old.attribute != new.attribute:
        return False
    if new.kind in ("verb", "state") or (new.kind == "attribute" and new.attribute.endswith("s")):
        return cue
    # Without a cue, only values of one kind replace each other (a name by a name, a date
    # by a date): "Dana's mom is a teacher" does not outdate "Dana's mom is Ana".
    return cue or (new.value_kind == old.value_kind != "other")


_CAPITALISED = re.compile(r"(?<![\w'’])[A-Z][\w\-]+")
_STRUCTURED = re.compile(r"\b[A-Za-z]*\d[\w\-.:]*\b")


def _anchors(text: str) -> set[str]:
    """Names and structured tokens of a text ("Amsterdam", "KL1691", "2026-09-13")."""
    plain = _ASIDE.sub("", text)
    words = {w.casefold() for w in _CAPITALISED.findall(plain)}
    words |= {w.casefold() for w in _STRUCTURED.findall(plain)}
    return words - {"the", "a", "an", "i"}


def updates(new_text: str, old_text: str) -> bool:
    """True when ``new_text`` carries an update cue, shares at least two names or
    identifiers with ``old_text`` (besides the first word, usually its speaker) and differs
    from it in a number or a date: "Sam now flies KLM KL1691 from Amsterdam to Lisbon on
    September 13" updates "Sam booked TAP flight TP575 from Amsterdam to Lisbon on
    September 12"."""
    if UPDATE_CUE.search(new_text) is None:
        return False
    first = new_text.split(" ", 1)[0].casefold()
    shared = (_anchors(new_text) & _anchors(old_text)) - {first}
    shared = {w for w in shared if not w[:1].isdigit()}
    if len(shared) < 2:
        return False
    return set(_NUMBER.findall(_ASIDE.sub("", new_text))) != set(
        _NUMBER.findall(_ASIDE.sub("", old_text))
    )
