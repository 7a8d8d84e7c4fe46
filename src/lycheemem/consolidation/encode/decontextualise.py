"""Decontextualisation (MEMORY.md §16.3): pronouns replaced by the names they stand for."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lycheemem.domain.text.terms import STOPWORDS, is_cjk

__all__ = ["decontextualise", "fix_case"]


def _words(text: str) -> list[str]:
    return text.split()


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


def fix_case(text: str) -> str:
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
    return fix_case(out)
