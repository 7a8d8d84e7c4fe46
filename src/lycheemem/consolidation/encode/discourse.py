"""Discourse helpers of the memory-only encoder: who is speaking and what a reply refers to.

Pure functions over English text, used to make each record a standalone sentence
(MEMORY.md §16.3): people's names cased as names, self-introductions and tautologies
dropped, elliptical answers folded together with the question they answer, and a
sentence-initial "it" replaced by the thing the conversation was just about.
"""

from __future__ import annotations

import re

from lycheemem.domain.models import Turn

__all__ = [
    "drop_tautology",
    "speaker_of",
    "strip_speaker_prefix",
    "fold_answer",
    "indirect_question",
    "is_elliptical",
    "person_name",
    "resolve_it",
    "self_introduction",
    "split_comma_splice",
    "topic_of_answer",
    "topic_of_question",
]


def _words(text: str) -> list[str]:
    return text.split()


# Digits, "_" or "@" anywhere, or a dot inside one unspaced token ("priya.k"), mark a handle;
# "J. R. Smith" is still a name.
_ID_LIKE = re.compile(r"\d|_|@|^[^\s.]+\.[^\s]+$|^[0-9a-f-]{8,}$", re.IGNORECASE)


def person_name(raw: str | None) -> str | None:
    """A display name or speaker as a person's name, or None when it is not one.

    Generated ids and handles (digits, ``_``, ``@``, dots) are not names: records then say
    "the user". An all-lower-case name ("dana", "mary-ann lee") is capitalised.
    """
    if raw is None:
        return None
    name = " ".join(raw.split())
    if not name or _ID_LIKE.search(name):
        return None
    if name == name.lower() and re.fullmatch(r"[^\W\d_]+(?:[ '\-][^\W\d_]+)*", name):
        return re.sub(r"(^|[ \-'])([^\W\d_])", lambda m: m.group(1) + m.group(2).upper(), name)
    return name


_INTRO = re.compile(
    r"^(?i:i'm|i’m|i\s+am|my\s+name\s+is|my\s+name's|this\s+is|call\s+me)\s+"
    r"(?P<name>[A-Z][\w\-]+(?:\s+[A-Z][\w\-]+)?)\s*(?P<end>[,;:.!\-–]+\s*|\s+and\s+|$)",
)


def self_introduction(sentence: str) -> tuple[str, str] | None:
    """``(name, rest)`` for a sentence that opens with "I'm Dana" / "my name is Dana".

    ``rest`` is what follows the introduction ("" when nothing does), first letter
    upper-cased.
    """
    m = _INTRO.match(sentence.strip())
    if m is None:
        return None
    name = m.group("name")
    if name.casefold() in _NOT_NAMES:
        return None
    rest = sentence.strip()[m.end() :].strip()
    return name, (rest[:1].upper() + rest[1:]) if rest else ""


_NOT_NAMES = frozenset(
    _words(
        "back here home done sure fine okay ok good great glad happy sorry new not in on so very "
        "also just still really going"
    )
)


def drop_tautology(text: str) -> str:
    """Remove a leading "X is X," clause ("Dana is Dana, Dana works ..." -> "Dana works ...")."""
    m = re.match(r"^(?P<n>[A-Z][\w'\- ]{0,40}?) is (?P=n)\b\s*[,;:.]?\s*", text, re.IGNORECASE)
    if m is None:
        return text
    rest = text[m.end() :]
    if not rest.strip() or re.match(r"they\b", rest, re.IGNORECASE):
        # What followed was a repeated mention ("they work ..."), unreadable on its own.
        return ""
    return rest[:1].upper() + rest[1:]


_SUBORDINATE = re.compile(
    r"^(?:when|whenever|if|because|since|although|though|while|as|after|before|once|until|"
    r"unless|even|so|but|and|or|then|last|next|this|every|in|on|at|during)\b",
    re.IGNORECASE,
)
_QUANTITY_HEAD = re.compile(r"^(?:at\s+(?:most|least)|about|around|in\s+total)\b", re.I)
_SPLICE = re.compile(
    r",\s+(?=(?:i|i'm|i’m|i've|i’ve|i'd|i’d|i'll|i’ll|we|we're|we’re|we've)\b)", re.IGNORECASE
)
_CLAUSE_START = re.compile(r"^(?:i|i'm|i’m|i've|i’ve|we|we're|we’re|my|our)\b", re.IGNORECASE)


def split_comma_splice(sentence: str, *, answering: bool) -> list[str]:
    """Split "Neovim with gopls, I can't stand VS Code" into its two statements.

    A comma followed by "I"/"we" starts a new statement when the part before it is an
    independent first-person clause, or (``answering``: the sentence opens a reply to a
    question) a short answer of two or more words. Subordinate openers ("When I was
    young, I ...", "Last year, I ...") never split, so their dates and conditions stay.
    """
    m = _SPLICE.search(sentence)
    if m is None:
        return [sentence]
    head, tail = sentence[: m.start()].strip(), sentence[m.end() :].strip()
    words = len(head.split())
    if words < 2 or (_SUBORDINATE.match(head) and not _QUANTITY_HEAD.match(head)):
        return [sentence]
    if not (_CLAUSE_START.match(head) or (answering and words <= 8)):
        return [sentence]
    return [head, tail[:1].upper() + tail[1:]]


_FINITE = re.compile(
    r"\b(?:am|is|are|was|were|be|been|has|have|had|do|does|did|will|would|can|could|"
    r"should|may|might|must|shall|i|we|it|they|he|she|you)\b|['’](?:re|ve|ll|d|m)\b|"
    r"\b(?:it|he|she|that|there|what)['’]s\b",
    re.IGNORECASE,
)


def is_elliptical(sentence: str) -> bool:
    """True for a reply without subject or verb of its own ("Mostly the shipment-tracking
    service.", "A ryokan in Kyoto called Hiiragiya."), which only makes sense with its
    question."""
    words = re.findall(r"[A-Za-z][\w'’\-]*", sentence)
    return 0 < len(words) <= 14 and _FINITE.search(sentence) is None


_WH = r"(?:what|which|where|who|whom|whose|when|why|how)"
_AUX_THEY = {
    "am": "are", "are": "are", "is": "are", "was": "were", "were": "were", "do": "",
    "does": "", "have": "have", "has": "have", "had": "had", "can": "can", "could": "could",
    "will": "will", "would": "would", "should": "should",
}  # fmt: skip
_AUX = "|".join(_AUX_THEY) + "|did"
_ASK_YOU = re.compile(
    rf"^(?P<wh>{_WH}(?:\s+[\w\-]+){{0,3}}?)\s+(?P<aux>{_AUX})\s+you\s+(?P<rest>.+)$",
    re.IGNORECASE,
)
_ASK_OTHER_HEAD = (
    rf"^(?P<wh>{_WH}(?:\s+[\w\-]+){{0,3}}?)\s+(?P<aux>do|does|is|are|was|were|has|have|can|will)\s+"
)
_ASK_OTHER = [
    re.compile(
        _ASK_OTHER_HEAD + r"(?P<subj>(?:the|your|this|that|our)\s+[\w\-]+" + second + r"|"
        r"(?-i:[A-Z][\w\-]+))\s+(?P<verb>[a-z][\w\-]*)(?P<rest>.*)$",
        re.IGNORECASE,
    )
    for second in (r"(?:\s+[\w\-]+)?", r"(?:\s+[\w\-]+)??")
]
_ASK_YES_NO = re.compile(rf"^(?P<aux>{_AUX})\s+you\s+(?P<rest>.+)$", re.IGNORECASE)
_ASK_COPULA = re.compile(
    rf"^(?P<wh>{_WH}(?:\s+[\w\-]+){{0,2}}?)(?:['’]s|\s+is|\s+are|\s+was|\s+were)\s+(?P<np>.+)$",
    re.IGNORECASE,
)


def _third_person_rest(rest: str) -> str | None:
    """The question's remainder with "you/your" as "them/their"; None if it says "I/me"."""
    if re.search(r"\b(?:i|me|my|mine|i'm|i’m)\b", rest, re.IGNORECASE):
        return None
    out = re.sub(r"\byourself\b", "themselves", rest, flags=re.IGNORECASE)
    out = re.sub(r"\byours\b", "theirs", out, flags=re.IGNORECASE)
    out = re.sub(r"\byour\b", "their", out, flags=re.IGNORECASE)
    return re.sub(r"\byou\b", "them", out, flags=re.IGNORECASE)


def _inflect(verb: str) -> str:
    """Third person singular of a verb in its base form ("own" -> "owns")."""
    low = verb.lower()
    if low in ("have", "be", "do", "go"):
        return {"have": "has", "be": "is", "do": "does", "go": "goes"}[low]
    if re.search(r"(?:s|sh|ch|x|z|o)$", low):
        return verb + "es"
    if re.search(r"[^aeiou]y$", low):
        return verb[:-1] + "ies"
    return verb + "s"


_PREPOSITIONS = frozenset(
    _words("about from for with in on at to of by behind after before like and or but")
)


def _ask_other(core: str) -> re.Match[str] | None:
    """A wh-question about someone or something else; with "is/are" the verb must be a
    participle, which decides how long the subject is ("the team | working on")."""
    for pattern in _ASK_OTHER:
        m = pattern.match(core)
        if m is None:
            continue
        verb = m.group("verb").lower()
        if m.group("aux").lower() in ("is", "are", "was", "were") and (
            verb in _PREPOSITIONS or not re.search(r"(?:ing|ed|en|eld|ent|ound|ought|ade)$", verb)
        ):
            continue
        return m
    return None


def indirect_question(question: str) -> str | None:
    """ "Where are you staying?" -> "where they are staying"; None when no simple form exists.

    Handles wh-questions to "you" (do-support dropped), "What's X?" and yes/no questions to
    "you" ("whether they ..."); questions in the past with "did" have no form without
    re-inflecting the verb and return None.
    """
    core = re.sub(r"[?？!.\s]+$", "", question.strip())
    core = re.sub(r"^(?:and|so|but|also|ok|okay|great|nice|cool)\b[,\s]*", "", core, flags=re.I)
    m = _ASK_YOU.match(core)
    if m:
        aux = m.group("aux").lower()
        rest = _third_person_rest(m.group("rest"))
        if aux == "did" or rest is None:
            return None
        verb = _AUX_THEY[aux]
        return " ".join(p for p in (m.group("wh").lower(), "they", verb, rest) if p)
    m = _ask_other(core)
    if m and m.group("subj").casefold() != "you":
        subject = _third_person_rest(m.group("subj"))
        rest = _third_person_rest(m.group("verb") + m.group("rest"))
        if subject is not None and rest is not None:
            aux = m.group("aux").lower()
            if aux == "does":
                rest = _inflect(m.group("verb")) + m.group("rest")
            verb = "" if aux in ("do", "does") else aux
            return " ".join(p for p in (m.group("wh").lower(), subject, verb, rest) if p)
    m = _ASK_YES_NO.match(core)
    if m:
        aux = m.group("aux").lower()
        rest = _third_person_rest(m.group("rest"))
        if aux == "did" or rest is None:
            return None
        return " ".join(p for p in ("whether they", _AUX_THEY[aux], rest) if p)
    m = _ASK_COPULA.match(core)
    if m:
        np = _third_person_rest(m.group("np"))
        if np is None:
            return None
        copula = "were" if re.search(r"\s+(?:were)\s", core) else "is"
        if re.match(rf"^{_WH}(?:\s+[\w\-]+){{0,2}}?\s+are\s", core, re.IGNORECASE):
            copula = "are"
        return f"{m.group('wh').lower()} {np} {copula}"
    return None


_LOWER_FIRST = frozenset(
    _words(
        "a an the mostly just only probably maybe usually about around in at on with some "
        "mainly mainly, currently still"
    )
)


def fold_answer(answer: str, question: str, speaker: str, topic: str | None = None) -> str:
    """The elliptical ``answer`` as one sentence with the ``question`` it replies to.

    "Asked where they are staying in Kyoto, Dana said: a ryokan called Hiiragiya." The
    question is quoted as asked when it has no simple indirect form. A question that
    refers back ("Did you find one?") names ``topic``, the thing the conversation is about.
    """
    if topic:
        question = re.sub(r"\b(?:one|it)\b(?=[\s?!.,]|$)", topic, question, count=1)
    body = answer.strip().rstrip(" .!;")
    first = body.split(" ", 1)[0].casefold() if body else ""
    if first in _LOWER_FIRST:
        body = body[:1].lower() + body[1:]
    if speaker.startswith(("The user", "The assistant")):
        speaker = "t" + speaker[1:]  # mid-sentence
    indirect = indirect_question(question)
    if indirect is not None:
        return f"Asked {indirect}, {speaker} said: {body}."
    quoted = question.strip()
    return f'Asked "{quoted}", {speaker} said: {body}.'


_NP = re.compile(
    r"\b(?P<det>the|a|an|your|my|our|this|that)\s+"
    r"(?P<words>[A-Za-z][\w\-]*(?:\s+[A-Za-z][\w\-]*){0,3})"
)
_NP_STOP = frozenset(
    _words(
        "about from for with in on at to of by behind after before like and or but is are was "
        "were be been do does did have has had going end ending go went work working run "
        "running look looking that which who when where why how it you them they these those "
        "this your my our their his her its last next so"
    )
)


def _clean_np(det: str, words: str, owner: str | None) -> str | None:
    kept: list[str] = []
    for word in words.split():
        if word.casefold() in _NP_STOP:
            break
        kept.append(word)
    if not kept:
        return None
    head = det.casefold()
    if head in ("a", "an", "this", "that"):
        head = "the"
    elif head in ("your", "my", "our"):
        if owner is None:
            return None
        head = owner + "'s"
    return f"{head} {' '.join(kept)}"


def topic_of_question(question: str, owner: str | None) -> str | None:
    """The thing a question asks about ("How did the connection errors end?" -> "the
    connection errors"); "your X" becomes "<owner>'s X". None without a clear noun phrase."""
    for m in _NP.finditer(question):
        np = _clean_np(m.group("det"), m.group("words"), owner)
        if np is not None:
            return np
    return None


def topic_of_answer(answer: str) -> str | None:
    """The noun phrase of an elliptical answer ("Mostly the shipment-tracking service." ->
    "the shipment-tracking service")."""
    m = _NP.search(answer)
    if m is None:
        return None
    return _clean_np(m.group("det"), m.group("words"), None)


_IT_START = re.compile(r"^it(?=(?:['’]s|\s+is|\s+was|\s+has|\s+runs|\s+uses|\s+needs)\b)", re.I)
_IT_EXPLETIVE = re.compile(
    r"^it(?:['’]s|\s+is|\s+was)\s+(?:been\b|time\b|getting\b|raining\b|snowing\b|"
    r"(?:\w+\s+){0,2}?(?:to|that|when|how|if|like|for\s+me)\b|"
    r"(?:so\s+|really\s+|very\s+|pretty\s+|too\s+)?\w+\s*[.!]?$)",
    re.IGNORECASE,
)


def resolve_it(sentence: str, topic: str | None) -> str:
    """Replace a sentence-initial "It" by ``topic`` ("It's written in Go" -> "The
    shipment-tracking service is written in Go"). Expletive uses ("It's been a while",
    "It was great to see you", "It's nice") are left alone."""
    if not topic or not _IT_START.match(sentence) or _IT_EXPLETIVE.match(sentence):
        return sentence
    rest = sentence[2:]
    if rest[:2] in ("'s", "’s"):
        rest = " is" + rest[2:]
    subject = topic[:1].upper() + topic[1:]
    return subject + rest


def speaker_of(turn: Turn) -> str | None:
    """The turn's speaker: its ``speaker`` field, else ``metadata["speaker"]``."""
    if turn.speaker:
        return turn.speaker
    meta = turn.metadata or {}
    value = meta.get("speaker")
    return value if isinstance(value, str) and value.strip() else None


def strip_speaker_prefix(content: str, speaker: str | None) -> str:
    """``content`` without a leading ``"<speaker>: "`` naming this speaker."""
    if not speaker:
        return content
    m = re.match(r"^\s*([^:\n]{1,60}):\s*", content)
    if m and m.group(1).strip().casefold() == speaker.strip().casefold():
        return content[m.end() :]
    return content
