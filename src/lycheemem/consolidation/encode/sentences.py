"""Sentence splitting and chit-chat filtering of the memory-only encoder (MEMORY.md §16.1)."""

from __future__ import annotations

import re

from lycheemem.domain.text import cues
from lycheemem.domain.text.terms import is_cjk

__all__ = [
    "MAX_TEXT",
    "PHOTO_RE",
    "is_chitchat",
    "is_question",
    "split_sentences",
    "strip_chatter",
    "too_short",
]

# The longest text one extracted record or skill field keeps.
MAX_TEXT = 1000

# --- sentence splitting -----------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


_ABBREVIATIONS = frozenset(
    _words(
        """e.g i.e etc vs mr mrs ms dr prof sr jr st no approx inc ltd co u.s u.k a.m p.m fig
    dept est mt ft jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat
    sun ca cf al"""
    )
)
_BOUNDARY_RE = re.compile(r"[.!?;]+[\"')\]]*(?=\s|$)|[。！？；]+[”」』）)]*")
PHOTO_RE = re.compile(
    r"\s*(\[(?:shares?|shared|sends?|sent|posts?|posted)\s+(?:a|an|the)?\s*"
    r"(?:photo|image|picture|pic|video|screenshot)[^\]]*\])\s*$",
    re.IGNORECASE,
)


def _is_abbreviation(before: str) -> bool:
    word = re.search(r"([\w.]+)$", before)
    if word is None:
        return False
    token = word.group(1).rstrip(".").lower()
    return token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha())


def _split_line(line: str) -> list[str]:
    pieces: list[str] = []
    start = 0
    for m in _BOUNDARY_RE.finditer(line):
        if m.group(0) == "." and _is_abbreviation(line[start : m.start()]):
            continue
        piece = line[start : m.end()].strip()
        if piece:
            pieces.append(piece)
        start = m.end()
    tail = line[start:].strip()
    if tail:
        pieces.append(tail)
    return pieces


def split_sentences(text: str) -> list[tuple[str, bool]]:
    """Split text into ``(sentence, is_list_item)`` pairs.

    Splits on newlines and on ``. ! ? ; 。 ！ ？ ；`` but not inside numbers, URLs or
    after common abbreviations and initials. A list item (``1.``, ``-``, ``Step 2:``)
    stays one piece with its marker removed.
    """
    out: list[tuple[str, bool]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        marker = cues.LIST_ITEM_RE.match(line)
        if marker and line[marker.end() :].strip():
            out.append((line[marker.end() :].strip(), True))
            continue
        out.extend((piece, False) for piece in _split_line(line))
    return out


# --- chit-chat ----------------------------------------------------------------------------

_INTERJ_LOOSE = (
    r"wow|whoa|oh|ooh|oooh|hey|hi|hello|haha|hahaha|lol|omg|aw|aww|awww|yeah|yep|yup|ah|ahh|"
    r"hmm|gosh|yay|woah|uh|um|heh|by\s+the\s+way|btw|anyway|anyways"
)
_INTERJ_PUNCT = (
    r"great|cool|nice|awesome|amazing|sweet|perfect|thanks|thank\s+you|sure|okay|ok|yes|no|"
    r"nope|well|totally|absolutely|definitely|agreed|exactly|true|right|sorry|congrats|"
    r"congratulations|alright|indeed|so|anyway|honestly|lovely|wonderful|haha|ha"
)
# Discourse markers that open a message but say nothing themselves ("Quick update:",
# "Also,"); the statement after them is what is remembered.
_MARKERS = (
    r"(?:quick\s+|small\s+|one\s+more\s+|an?\s+)?(?:update|correction|fyi|note|heads[\s-]+up)"
    r"\s*[:,\-–]\s*|(?:also|plus|and\s+also|oh\s+and)\s*,\s*|"
    r"(?:bad|good|great|sad|big)\s+news\s*[:,!\-–]+\s*"
)
_LEAD_CHATTER = re.compile(
    rf"^(?:{_MARKERS}|(?:{_INTERJ_LOOSE})\b[\s,!.~]*|(?:{_INTERJ_PUNCT})\b\s*[,!.~]+\s*|"
    r"[A-Z][a-z]+\s*!+\s*)",
    re.IGNORECASE,
)
_LEAD_NAME = re.compile(r"^([A-Z][a-z]+)\s*[,!]+\s*")
_TRAIL_NAME = re.compile(r"\s*,\s*([A-Z][a-z]+)\s*([!.?~]*)$")
_REACTION_RE = re.compile(
    r"^(?:that's|that\s+is|that\s+was|it's|it\s+is|it\s+was|this\s+is|sounds|looks|how|"
    r"what\s+an?|so|you're|you\s+are|you\s+look|you've\s+got|you\s+got)\s+"
    r"(?:so\s+|really\s+|very\s+|super\s+|pretty\s+|truly\s+|such\s+an?\s+|totally\s+|"
    r"absolutely\s+|just\s+|quite\s+|a\s+)*"
    r"(?:great|cool|awesome|amazing|nice|lovely|wonderful|sweet|fun|good|beautiful|"
    r"fantastic|incredible|inspiring|exciting|interesting|impressive|kind|thoughtful|brave|"
    r"stunning|gorgeous|adorable|cute|neat|epic|terrific|special|the\s+best|true|right|"
    r"awesome|guts|rad|tough|hard|crazy|wild|insane)\b(?:[\s,]+[\w']+){0,3}$",
    re.IGNORECASE,
)
_CHITCHAT_RE = re.compile(
    r"^(?:(?:good|nice|great|glad|so\s+good)\s+to\s+(?:see|hear|meet|talk|chat)|"
    r"(?:talk|see|catch)\s+(?:to\s+|with\s+)?you|take\s+care|thanks?(?:\s+(?:so\s+much|a\s+lot|"
    r"again|for\s+[\w']+(?:\s+[\w']+){0,3}))?$|thank\s+you|(?:i\s+)?appreciate\s+(?:it|that|you)|"
    r"me\s+too|same\s+here|(?:i\s+)?(?:totally\s+|completely\s+)?agree|good\s+luck|"
    r"you're\s+welcome|no\s+problem|(?:i'm|i\s+am)\s+(?:so\s+|really\s+)?(?:happy|glad|proud|"
    r"excited)\s+(?:for|of)\s+you|glad\s+(?:to\s+hear|you)|happy\s+to\s+help|"
    r"you(?:'ve)?\s+got\s+(?:this|it)|keep\s+(?:it\s+up|going|up\s+the)|"
    r"(?:love|loved|like)\s+(?:that|it|this|those|these)\b(?:\s+[\w']+){0,2}$|"
    r"have\s+(?:a\s+)?(?:good|great|nice|fun)|what\s+an?\s+[\w']+(?:\s+[\w']+)?$|bye\b|"
    r"good\s+(?:morning|night|evening|afternoon)|let\s+me\s+know|congrat|"
    r"take\s+a\s+look|check\s+(?:this|it)\s+out|look\s+at\s+this|you\s+(?:rock|rule)|"
    r"(?:i'm|i\s+am)\s+(?:off|going)\s+to\s+go\s*$|"
    r"(?:just\s+)?(?:following|circling|checking)\s+(?:up|back|in)\b(?:\s+(?:on|about|with)\b)?|"
    r"(?:a\s+few|some|two|three|quick|more)\s+(?:updates?|changes|news)\b|one\s+more\s+thing)",
    re.IGNORECASE,
)
_ZH_CHITCHAT = re.compile(r"^(?:谢谢|多谢|感谢|你好|您好|哈哈|好的|嗯|再见|拜拜|不客气|没问题)")


def _is_known_name(word: str, names: frozenset[str]) -> bool:
    low = word.casefold()
    return any(low == n or (len(low) >= 3 and n.startswith(low)) for n in names)


def strip_chatter(sentence: str, names: frozenset[str] = frozenset()) -> str:
    """Remove leading interjections/vocatives ("Wow, Mel!") and a trailing vocative.

    ``names`` (casefolded) are the people of the conversation; a word followed by a
    comma counts as a vocative only when it is one of them or a prefix of one ("Mel").
    """
    out = sentence.strip()
    for _ in range(4):
        stripped = _LEAD_CHATTER.sub("", out, count=1).strip()
        lead = _LEAD_NAME.match(stripped)
        if lead and _is_known_name(lead.group(1), names):
            stripped = stripped[lead.end() :].strip()
        if stripped == out:
            break
        out = stripped
    trail = _TRAIL_NAME.search(out)
    if trail and _is_known_name(trail.group(1), names):
        out = (out[: trail.start()] + trail.group(2)).strip()
    if out and out[0].islower() and out != sentence.strip():
        out = out[0].upper() + out[1:]
    return out


def _word_count(text: str) -> int:
    cjk = sum(1 for ch in text if is_cjk(ch))
    return cjk + len(re.findall(r"[A-Za-z0-9][\w'’\-]*", text))


def is_chitchat(cleaned: str) -> bool:
    """True for greetings, thanks and empty reactions ("Wow, that's great!")."""
    core = re.sub(r"[\s.!?~。！？]+$", "", cleaned).strip()
    if not core:
        return True
    if is_cjk(core):
        return bool(_ZH_CHITCHAT.match(core)) and _word_count(core) < 8
    words = _word_count(core)
    if words < 2:
        return True
    return bool(_REACTION_RE.match(core) or _CHITCHAT_RE.match(core))


_FIRST_PERSON_START = re.compile(r"^(?:i|i'm|i've|i'd|i'll|my|we|we're|our)\b", re.IGNORECASE)


def too_short(cleaned: str) -> bool:
    """Whether a cleaned sentence has too few words to be worth a record."""
    if is_cjk(cleaned):
        return _word_count(cleaned) < 4 and not re.search(r"我|我们", cleaned)
    words = _word_count(cleaned)
    if words >= 3:
        return False
    return not (words == 2 and _FIRST_PERSON_START.match(cleaned))


def is_question(sentence: str) -> bool:
    """Whether the sentence ends as a question (``?`` or a Chinese question particle)."""
    return bool(re.search(r"[?？]\W*$", sentence) or re.search(r"[吗呢]\W*$", sentence))
