"""Memory-only encoder: turns -> typed records and skills without an LLM (MEMORY.md §16).

The encoder errs on the side of keeping information: a declarative sentence that is not
chit-chat becomes at least a ``fact``. Output uses the same ``ExtractedRecord`` /
``ExtractedSkill`` shapes as the LLM encoder, so post-processing is shared.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from lycheemem.consolidation.encode import discourse
from lycheemem.domain.models import ExtractedRecord, ExtractedSkill, Temporal, Turn
from lycheemem.domain.text import cues
from lycheemem.domain.text.dates import annotate_dates, parse_loose_datetime
from lycheemem.domain.text.redact import contains_secret
from lycheemem.domain.text.terms import STOPWORDS, canon, is_cjk, light_stem

__all__ = [
    "decontextualise",
    "encode_turns",
    "extract_entities",
    "is_chitchat",
    "split_sentences",
    "strip_chatter",
]

_MAX_TEXT = 1000
_ASSISTANT_TYPES = frozenset({"procedure", "tool_affordance", "failure_pattern"})
_CONFIDENCE = {"user": 0.7, "assistant": 0.5}

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
_PHOTO_RE = re.compile(
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


def _too_short(cleaned: str) -> bool:
    if is_cjk(cleaned):
        return _word_count(cleaned) < 4 and not re.search(r"我|我们", cleaned)
    words = _word_count(cleaned)
    if words >= 3:
        return False
    return not (words == 2 and _FIRST_PERSON_START.match(cleaned))


def _is_question(sentence: str) -> bool:
    return bool(re.search(r"[?？]\W*$", sentence) or re.search(r"[吗呢]\W*$", sentence))


# --- decontextualisation (§16.3) ---------------------------------------------------------

_ADVERBS = (
    r"always|usually|often|sometimes|never|really|also|still|just|totally|definitely|mostly|"
    r"rarely|generally|actually|even|already|finally|truly|absolutely|normally|typically|"
    r"now|currently|recently|soon|instead|once"
)
_PRONOUN_SUBJECT = re.compile(
    r"(?<![\w'’])(?P<pron>i|we|you)(?P<aux>'m|’m|'re|’re|'ve|’ve|'d|’d|'ll|’ll|\s+am|\s+are|"
    r"\s+was|\s+were|\s+have|\s+don't|\s+don’t|\s+do\s+not)?(?![\w'’]|\.\w)"
    rf"(?:(?P<gap>\s+(?:(?:{_ADVERBS})\s+)?)(?P<verb>[a-z]+)(?![\w'’]))?",
    re.IGNORECASE,
)
_PRONOUN_OBJECT = re.compile(
    r"(?<![\w'’\-])(?P<pron>me|my|mine|myself|us|our|ours|ourselves|your|yours|yourself|"
    r"yourselves)(?![\w'’\-])",
    re.IGNORECASE,
)
_AUX_MAP = {
    "'m": " is", "'re": " is", "'ve": " has", "'d": " would", "'ll": " will", "am": " is",
    "are": " is", "was": " was", "were": " was", "have": " has", "don't": " doesn't",
    "do not": " does not",
}  # fmt: skip
_NO_AGREEMENT = frozenset(
    _words(
        """can could will would should shall may might must did didn't had was were wasn't
    weren't won't can't couldn't wouldn't shouldn't to and or but so then too the a an
    that this it in on at of for with as if when while because last first once now then
        both all each recently"""
    )
)
_LY_VERBS = frozenset(_words("fly apply reply rely supply comply multiply imply ally"))
_IRREGULAR_3RD = {"do": "does", "go": "goes", "have": "has", "be": "is"}


_PAST_FORMS = frozenset(
    _words(
        """was were did had said knew grew threw chose wore woke broke forgot understood stood
    sat slept paid became fell caught fought meant sent lent dealt hung led got went ran
    met made took bought saw wrote built began gave found left felt taught won lost spent
    drove flew ate sang swam came brought thought kept held sold told heard"""
    )
)


def _third_person(verb: str) -> str:
    low = verb.lower()
    if low in _IRREGULAR_3RD:
        return _IRREGULAR_3RD[low]
    if (
        low in _NO_AGREEMENT
        or low in _PAST_FORMS
        or (low.endswith("ed") and not low.endswith("eed"))
        or low.endswith("ing")
        or (low.endswith("ly") and low not in _LY_VERBS)
        or (low.endswith("s") and not low.endswith("ss"))
        or len(low) < 2
    ):
        return verb
    if re.search(r"(?:ss|sh|ch|x|z|o)$", low):
        return verb + "es"
    if re.search(r"[^aeiou]y$", low):
        return verb[:-1] + "ies"
    return verb + "s"


def _looks_like_verb(word: str) -> bool:
    low = word.lower()
    return low not in STOPWORDS or low in ("do", "have", "get", "know", "tell")


@dataclass(slots=True)
class _Names:
    first: str  # who "I/we" are
    second: str | None  # who "you" is (assistant turns only)
    # Targets already named once in the sentence: later mentions become "they"/"their", so
    # "I back up my Postgres" reads "Dana backs up their Postgres", not "Dana ... Dana's".
    named: set[str] = field(default_factory=set)

    def mention(self, target: str) -> bool:
        """Record a mention of ``target``; True when it was already named in the sentence."""
        seen = target in self.named
        self.named.add(target)
        return seen


_PLURAL_AUX = {
    "'m": " are", "'re": " are", "'ve": " have", "'d": " would", "'ll": " will", "am": " are",
    "are": " are", "was": " were", "were": " were", "have": " have", "don't": " don't",
    "do not": " do not",
}  # fmt: skip


def _possessive(name: str) -> str:
    return name + "'s"


def _subject_sub(m: re.Match[str], names: _Names) -> str:
    pron = m.group("pron").lower()
    target = names.second if pron == "you" else names.first
    if target is None:
        return m.group(0)
    aux = (m.group("aux") or "").replace("’", "'").strip().lower()
    gap, verb = m.group("gap") or "", m.group("verb")
    if names.mention(target):
        # A second mention in one sentence: "they" with plural agreement (verb unchanged).
        head = "they" + (_PLURAL_AUX.get(aux.lstrip(), " " + aux) if aux else "")
        return head + (gap + verb if verb else "")
    if aux:
        head = target + _AUX_MAP.get(aux.lstrip(), " " + aux)
        return head + (gap + verb if verb else "")
    if verb is None:
        return target
    if _looks_like_verb(verb):
        return target + gap + _third_person(verb)
    return target + gap + verb


def _object_sub(m: re.Match[str], names: _Names) -> str:
    raw = m.group("pron")
    pron = raw.lower()
    if raw == "US":
        return raw
    if pron.startswith("your"):
        if names.second is None:
            return raw
        return _object_form(names, names.second, reflexive=pron.startswith("yoursel"))
    if pron in ("me", "us"):
        return _object_form(names, names.first, accusative=True)
    if pron in ("myself", "ourselves"):
        return _object_form(names, names.first, reflexive=True)
    return _object_form(names, names.first)


def _object_form(
    names: _Names, target: str, *, accusative: bool = False, reflexive: bool = False
) -> str:
    """``target`` as an object or possessive; a repeated mention becomes a pronoun."""
    if names.mention(target):
        if reflexive:
            return "themselves"
        return "them" if accusative else "their"
    return target if accusative or reflexive else _possessive(target)


def _zh_sub(text: str, names: _Names) -> str:
    out = re.sub(r"我们的|我的", names.first + "的", text)
    out = re.sub(r"我们|我", names.first, out)
    if names.second is not None:
        out = re.sub(r"你们的|你的|您的", names.second + "的", out)
        out = re.sub(r"你们|你|您", names.second, out)
    return out


def _fix_case(text: str) -> str:
    """Lower-case generic subjects ("The user") when they land mid-sentence."""
    out = re.sub(r"(?<=[\w,;:)\]] )The (user|assistant)\b", r"the \1", text)
    return out[:1].upper() + out[1:] if out else out


def _substitute_in_order(sentence: str, names: _Names) -> str:
    """Subject and object pronouns replaced left to right, so the first mention is named."""
    found = [(m, True) for m in _PRONOUN_SUBJECT.finditer(sentence)]
    taken = [(m.start(), m.end()) for m, _ in found]
    for m in _PRONOUN_OBJECT.finditer(sentence):
        if not any(start < m.end() and m.start() < end for start, end in taken):
            found.append((m, False))
    found.sort(key=lambda pair: pair[0].start())
    parts: list[str] = []
    position = 0
    for m, is_subject in found:
        parts.append(sentence[position : m.start()])
        parts.append(_subject_sub(m, names) if is_subject else _object_sub(m, names))
        position = m.end()
    parts.append(sentence[position:])
    return "".join(parts)


def decontextualise(sentence: str, *, first: str, second: str | None = None) -> str:
    """Replace first-person words with ``first`` and, when given, "you" with ``second``.

    Simple agreement is applied: "I am" -> "X is", "I have" -> "X has", "I like" ->
    "X likes". Chinese 我/我们/我的 are replaced too (你/你的 when ``second`` is given).
    """
    names = _Names(first, second)
    out = _substitute_in_order(sentence, names)
    if is_cjk(out):
        out = _zh_sub(out, names)
    return _fix_case(out)


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


def _task_tags(sentence: str) -> list[str]:
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


def _tag_from(obj: str) -> str | None:
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


def _speaker_of(turn: Turn) -> str | None:
    if turn.speaker:
        return turn.speaker
    meta = turn.metadata or {}
    value = meta.get("speaker")
    return value if isinstance(value, str) and value.strip() else None


def _speaker_name(turn: Turn) -> str | None:
    """The turn's speaker as a person's name (cased; ids are not names)."""
    speaker = _speaker_of(turn)
    return discourse.person_name(speaker) if speaker else None


def _strip_speaker_prefix(content: str, speaker: str | None) -> str:
    if not speaker:
        return content
    m = re.match(r"^\s*([^:\n]{1,60}):\s*", content)
    if m and m.group(1).strip().casefold() == speaker.strip().casefold():
        return content[m.end() :]
    return content


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
    text = text[:_MAX_TEXT]
    record = ExtractedRecord(
        memory_type=memory_type,
        semantic_text=text,
        normalized_text=canon(text),
        entities=extract_entities(sentence, tools, ctx.speaker),
        temporal=temporal,
        task_tags=_task_tags(sentence),
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
        tag = _tag_from(constraint.obj)
        if tag:
            record.constraint_tags.append(tag)
    failure = cues.failure_cue(sentence)
    if failure is not None:
        record.failure_tags.append(_tag_from(failure.obj) or failure.cue)
    if memory_type in ("tool_affordance", "procedure") or record.tool_tags:
        record.affordance_tags.extend(cues.find_affordances(sentence)[:3])


def _photo_record(ctx: _TurnCtx, photo: str) -> ExtractedRecord:
    text = f"{ctx.first} {photo}"[:_MAX_TEXT]
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
    record.semantic_text = (record.semantic_text + " " + photo)[:_MAX_TEXT]
    record.normalized_text = canon(record.semantic_text)


def _keep_sentence(raw: str, names: frozenset[str]) -> str | None:
    """Return the cleaned sentence to encode, or None when it carries no memory."""
    if _is_question(raw) or contains_secret(raw):
        return None
    cleaned = strip_chatter(raw, names)
    if not cleaned or is_chitchat(cleaned) or _too_short(cleaned):
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
    return rest if rest and not is_chitchat(rest) and not _too_short(rest) else None


def _emit_statement(ctx: _TurnCtx, raw: str) -> None:
    cleaned = _keep_sentence(raw, ctx.names)
    if cleaned is None:
        if ctx.turn.role == "user" and not _is_question(raw):
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
        text = _fix_case(discourse.fold_answer(text, ctx.question, ctx.first, topic))
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
    record.semantic_text = text[:_MAX_TEXT]
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
    if contains_secret(head) or _is_question(head):
        head = ""
    text = (head + ": " if head else "") + "; ".join(item.rstrip(" .;") for item in items)
    record = _build_record(ctx, text, is_list_item=True)
    if record is not None:
        ctx.records.append(record)


def _encode_turn(ctx: _TurnCtx) -> None:
    content = _strip_speaker_prefix(ctx.turn.content or "", ctx.speaker)
    photo_match = _PHOTO_RE.search(content)
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
        (_speaker_of(previous) or "").casefold() == (ctx.speaker or "").casefold()
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
    other = _speaker_of(previous)
    if other is None or other.casefold() == speaker.casefold():
        return None
    return other


def _last_question(turn: Turn) -> str | None:
    content = _strip_speaker_prefix(turn.content or "", _speaker_of(turn))
    content = _PHOTO_RE.sub("", content)
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


# --- skills (§16.5) -------------------------------------------------------------------------


def _turn_groups(turns: Sequence[Turn]) -> list[list[Turn]]:
    groups: list[list[Turn]] = []
    for turn in turns:
        key = (turn.role, _speaker_of(turn))
        if groups and (groups[-1][0].role, _speaker_of(groups[-1][0])) == key:
            groups[-1].append(turn)
        else:
            groups.append([turn])
    return groups


def _list_block(lines: list[str]) -> tuple[str, list[str]]:
    """Return (heading, steps) for the first run of list items in ``lines``."""
    heading, steps, started = "", [], False
    for line in lines:
        marker = cues.LIST_ITEM_RE.match(line)
        if marker and line[marker.end() :].strip():
            steps.append(line[marker.end() :].strip())
            started = True
        elif started:
            break
        elif line.strip():
            heading = line.strip()
    return heading, steps


_INLINE_STEP_RE = re.compile(r"(?:^|(?<=\s))(\d{1,2})[.)](?=\s+\S)")


def _inline_list(lines: list[str]) -> tuple[str, list[str]]:
    """(heading, steps) of a list written on one line: ``To deploy: 1. Build 2. Push 3. Run``.

    Only markers numbered 1, 2, 3, ... in order count, so a stray ``v2.`` or ``at 5.`` inside
    a sentence does not start a list.
    """
    for line in lines:
        run: list[re.Match[str]] = []
        for marker in _INLINE_STEP_RE.finditer(line):
            if int(marker.group(1)) == len(run) + 1:
                run.append(marker)
        if len(run) < 3:
            continue
        ends = [m.start() for m in run[1:]] + [len(line)]
        steps = [line[m.end() : end].strip() for m, end in zip(run, ends, strict=True)]
        return line[: run[0].start()].strip(), [step for step in steps if step]
    return "", []


def _skill_from_group(group: list[Turn]) -> ExtractedSkill | None:
    speaker = _speaker_of(group[0])
    text = "\n".join(_strip_speaker_prefix(t.content or "", speaker) for t in group)
    if contains_secret(text):
        return None
    heading, steps = _list_block(text.splitlines())
    if len(steps) < 3:
        heading, steps = _inline_list(text.splitlines())
    if len(steps) < 3:
        return None
    if not (cues.has_action_cue(heading) or any(cues.has_action_cue(s) for s in steps)):
        return None
    intent = heading.rstrip(" :：") or split_sentences(text)[0][0]
    doc = "\n".join(f"{i}. {step}" for i, step in enumerate(steps, start=1))
    conditions = " ".join(
        s for s, is_item in split_sentences(text) if not is_item and cues.constraint_cue(s)
    )
    return ExtractedSkill(
        intent=intent[:120],
        doc_markdown=doc,
        conditions=conditions[:_MAX_TEXT],
        source_turn_indexes=[t.turn_index for t in group],
    )


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
    found = {_speaker_of(t) for t in turns} | {user_display_name}
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
        speaker = _speaker_of(turn)
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
    skills = [
        skill for group in _turn_groups(turns) if (skill := _skill_from_group(group)) is not None
    ]
    return _merge_duplicates(records), skills
