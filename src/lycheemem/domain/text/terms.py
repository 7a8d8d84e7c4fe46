"""Deterministic text machinery shared by indexing, querying and scoring.

One segmenter (:func:`segment`) feeds both the FTS5 index and FTS queries so the two
sides always agree on tokens. Nothing here touches storage or models.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from itertools import chain

__all__ = [
    "STOPWORDS",
    "COMMON_TERM_DOCS",
    "COMMON_TERM_SHARE",
    "build_fts_query",
    "kept_fts_groups",
    "canon",
    "common_term_share",
    "composite_id_for",
    "fts_document",
    "fts_owner",
    "is_cjk",
    "lexical_overlap",
    "light_stem",
    "query_terms",
    "record_id_for",
    "segment",
    "token_set",
]

# A query term in more of the tenant's records than this share (or count) is "common":
# it barely ranks, and on a large memory its posting list makes BM25 ranking slow.
COMMON_TERM_SHARE = 0.2
COMMON_TERM_DOCS = 2000
FTS_MAX_GROUPS = 8

_TRAILING = ".。!！?？;；"
_WS = re.compile(r"\s+")

# Han (incl. extensions and compatibility), Hiragana, Katakana (incl. half-width).
_CJK_CLASS = (
    "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
    "\U00020000-\U0002ffff"
)
# A word character that is not CJK, as one negated class: same matches as a lookahead
# before ``\w`` and about three times faster (every stored text is segmented).
_WORD_CHAR = rf"[^\W{_CJK_CLASS}]"
_TOKEN_RE = re.compile(rf"(?P<cjk>[{_CJK_CLASS}]+)|(?P<word>{_WORD_CHAR}+(?:[-./:]{_WORD_CHAR}+)*)")
_INNER_SEP = re.compile(r"[-./:_]+")
_CJK_CHAR = re.compile(rf"[{_CJK_CLASS}]")


def _words(text: str) -> list[str]:
    return text.split()


_EN_STOPWORDS = frozenset(
    _words(
        """
    a about above after again against all am an and any are aren't as at be because been
    before being below between both but by can could did do does doing don't down during
    each few for from further had has have having he her here hers herself him himself his
    how i i'm if in into is isn't it it's its itself just let's me more most my myself no
    nor not now of off on once only or other our ours ourselves out over own same she should
    so some such than that that's the their theirs them themselves then there these they
    this those through to too under until up very was wasn't we were what what's when where
    which while who whom why will with would you your yours yourself yourselves s t d ll m
    re ve also ever anything something did does tell please know much many get got
    """
    )
)
# Chinese stopwords; single characters among them also split CJK runs in queries.
_ZH_STOPWORDS = frozenset(
    _words(
        """
    的 了 是 在 吗 呢 吧 啊 我 你 他 她 它 和 与 也 都 就 这 那 哪 谁 被
    我们 你们 他们 她们 什么 怎么 怎样 如何 为什么 哪些 哪个 这个 那个 一个 一些 有没有 是不是
    请问 告诉 知道 一下
    """
    )
)
STOPWORDS: frozenset[str] = _EN_STOPWORDS | _ZH_STOPWORDS
_ZH_SPLITTERS = sorted((w for w in _ZH_STOPWORDS), key=len, reverse=True)
_ZH_SPLIT_RE = re.compile("|".join(re.escape(w) for w in _ZH_SPLITTERS))


def canon(text: str) -> str:
    """Canonical form for identity: NFKC, casefold, one space per run, no trailing stop.

    Idempotent: ``canon(canon(t)) == canon(t)``.
    """
    out = _WS.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
    while out and out[-1] in _TRAILING:
        out = out[:-1].rstrip()
    return out


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_id_for(user_id: str, normalized_text: str) -> str:
    """Return the 64-hex record id of a tenant's fact (MEMORY.md §1.2)."""
    return _sha256(user_id + "\n" + canon(normalized_text))


def composite_id_for(user_id: str, member_ids: Iterable[str]) -> str:
    """Return ``comp_`` + 24 hex, independent of member order (MEMORY.md §1.2)."""
    return "comp_" + _sha256(user_id + "\n" + ",".join(sorted(member_ids)))[:24]


def fts_owner(user_id: str) -> str:
    """Return the FTS owner token of a tenant (``u_anon`` for the anonymous one)."""
    return "u_anon" if user_id == "" else "u" + _sha256(user_id)[:16]


def is_cjk(text: str) -> bool:
    """Return True when ``text`` contains at least one CJK character."""
    return _CJK_CHAR.search(text) is not None


def _cjk_tokens(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def _word_tokens(word: str) -> list[str]:
    parts = [p for p in _INNER_SEP.split(word) if p]
    if not parts:
        return []
    if len(parts) == 1:
        return parts
    return ["_".join(parts), *parts]


def segment(text: str) -> list[str]:
    """Split text into index/query tokens, CJK-aware (MEMORY.md §4.3).

    Tokens are NFKC-normalised and casefolded. Identifiers with inner ``_ - . / :``
    appear whole (separators as ``_``) followed by their parts; CJK runs become the single
    character or overlapping bigrams; script changes always split. Order follows the text
    and duplicates are kept (term frequency matters to BM25).
    """
    norm = unicodedata.normalize("NFKC", text).casefold()
    tokens: list[str] = []
    for cjk, word in _TOKEN_RE.findall(norm):
        if cjk:
            tokens.extend(_cjk_tokens(cjk))
        elif word.isalnum():  # no inner separator: the word is its only token
            tokens.append(word)
        else:
            tokens.extend(_word_tokens(word))
    return tokens


def fts_document(*texts: str) -> str:
    """Return the space-joined tokens of all texts, ready for an FTS5 column."""
    return " ".join(tok for text in texts if text for tok in segment(text))


def _is_content(token: str) -> bool:
    if token in STOPWORDS:
        return False
    # Lone ASCII letters are contraction debris ("it's" -> "s"), never content.
    return not (len(token) == 1 and token.isascii() and token.isalpha())


def _cjk_subruns(run: str) -> list[str]:
    return [piece for piece in _ZH_SPLIT_RE.split(run) if piece]


def _query_units(text: str) -> list[tuple[str, list[str]]]:
    """Return ``(kind, tokens)`` units: kind is ident, number, cjk or word."""
    norm = unicodedata.normalize("NFKC", text).casefold()
    units: list[tuple[str, list[str]]] = []
    for match in _TOKEN_RE.finditer(norm):
        cjk = match.group("cjk")
        if cjk:
            units.extend(("cjk", _cjk_tokens(sub)) for sub in _cjk_subruns(cjk))
            continue
        toks = _word_tokens(match.group("word"))
        if not toks:
            continue
        whole = toks[0]
        if len(toks) > 1:
            units.append(("ident", [whole]))
        elif whole.isdigit():
            units.append(("number", [whole]))
        elif any(ch.isdigit() for ch in whole):
            units.append(("ident", [whole]))
        elif _is_content(whole):
            units.append(("word", [whole]))
    return units


def query_terms(text: str) -> list[str]:
    """Return the de-duplicated content terms of a query, in order of appearance.

    Stopwords (English and Chinese) are removed; CJK runs are split at Chinese stopwords
    and contribute their bigrams; identifiers contribute their whole form and content parts.
    """
    seen: dict[str, None] = {}
    for kind, toks in _query_units(text):
        candidates = segment(toks[0]) if kind == "ident" else toks
        for tok in candidates:
            if _is_content(tok):
                seen.setdefault(tok, None)
    return list(seen)


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def kept_fts_groups(
    text: str,
    df: Callable[[str], float] | None = None,
    max_share: float = COMMON_TERM_SHARE,
    max_groups: int = FTS_MAX_GROUPS,
) -> list[str]:
    """The term groups of ``text`` a full-text query searches for, in query order.

    With ``df`` (fraction of documents containing a group key; CJK keys are space-joined
    bigrams), groups above ``max_share`` are dropped, keeping the rarest one if all would
    go; at most ``max_groups`` remain.
    """
    groups = _ordered_groups(text)
    if df is not None and groups:
        freqs = {g: df(g) for g in groups}
        kept = [g for g in groups if freqs[g] <= max_share]
        groups = kept or [min(groups, key=lambda g: freqs[g])]
    return groups[: max(0, max_groups)]


def _ordered_groups(text: str) -> list[str]:
    """Return distinct group keys: identifiers/numbers, then CJK phrases, then words."""
    idents: list[str] = []
    phrases: list[str] = []
    words: list[str] = []
    for kind, toks in _query_units(text):
        key = " ".join(toks)
        if kind in ("ident", "number"):
            idents.append(key)
        elif kind == "cjk":
            if len(toks) == 1 and toks[0] in STOPWORDS:
                continue
            phrases.append(key)
        else:
            words.append(key)
    words.sort(key=len, reverse=True)
    return list(dict.fromkeys(idents + phrases + words))


def common_term_share(total: int) -> float:
    """The document share above which a term is common in a memory of ``total`` records.

    ``COMMON_TERM_SHARE`` up to ``COMMON_TERM_DOCS / COMMON_TERM_SHARE`` records (10,000);
    beyond that the absolute cap ``COMMON_TERM_DOCS`` takes over, which keeps full-text
    ranking work bounded as a memory grows.
    """
    if total <= 0:
        return COMMON_TERM_SHARE
    return min(COMMON_TERM_SHARE, COMMON_TERM_DOCS / total)


def build_fts_query(
    text: str,
    owner: str | None,
    max_groups: int = FTS_MAX_GROUPS,
    df: Callable[[str], float] | None = None,
    max_share: float = COMMON_TERM_SHARE,
    conjunctive: bool = False,
) -> str | None:
    """Build a safe FTS5 MATCH expression restricted to one owner (MEMORY.md §4.3).

    Terms are OR-ed; ``conjunctive`` AND-s them instead (every term must match).

    ``owner`` None leaves the owner term out; only for callers that filter rows by tenant
    themselves (``fts_search`` does).

    Every term is a double-quoted string, so FTS operators in user input are inert. The
    terms are ``kept_fts_groups`` (``df``, ``max_share``, ``max_groups`` as there). Returns
    None when nothing searchable remains.
    """
    groups = kept_fts_groups(text, df, max_share, max_groups)
    if not groups:
        return None
    body = (" AND " if conjunctive else " OR ").join(_quote(g) for g in groups)
    if owner is None:
        return f"({body})"
    return f"fts_owner : {_quote(owner)} AND ({body})"


@lru_cache(maxsize=65536)
def light_stem(word: str) -> str:
    """The one stemmer: casefold, then strip plural ``s/es/ies``, ``-ed``, ``-ing`` and a final
    ``e`` from ASCII words.

    Applied to both sides of every comparison, so inflections converge (``files``/``file`` ->
    ``fil``, ``deployed``/``deploys`` -> ``deploy``); non-ASCII and short words are unchanged.
    """
    word = word.casefold()
    if len(word) <= 3 or not word.isascii() or not word.isalpha():
        return word
    if word.endswith(("ies", "ied")) and len(word) >= 5:
        return word[:-3] + "y"
    if word.endswith("ing") and len(word) >= 6:
        word = _undouble(word[:-3])
    elif word.endswith("ed") and len(word) >= 5:
        word = _undouble(word[:-2])
    elif word.endswith("es") and len(word) >= 5:
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("e") and len(word) >= 4:
        word = word[:-1]
    return word


def _undouble(stem: str) -> str:
    if len(stem) >= 3 and stem[-1] == stem[-2] and stem[-1] not in "lsz":
        return stem[:-1]
    return stem


def lexical_overlap(terms: Sequence[str], doc_text: str) -> float:
    """Return the share of query ``terms`` present in ``doc_text`` (0..1).

    The document is segmented like the index; ASCII words on both sides are lightly
    stemmed. Returns 0.0 for an empty term list.
    """
    wanted = list(dict.fromkeys(light_stem(t) for t in terms if t))
    if not wanted:
        return 0.0
    doc = {light_stem(tok) for tok in segment(doc_text)}
    return sum(1 for t in wanted if t in doc) / len(wanted)


# Identifiers keep inner `_ - . / :` between alphanumerics (emitted whole and as parts); CJK
# runs become bigrams, mirroring the FTS segmenter closely enough for overlap counting.
_SCORE_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_SCORE_TOKEN_RE = re.compile(
    rf"[{_SCORE_CJK}]+|[^\W_{_SCORE_CJK}]+(?:[_\-./:][^\W_{_SCORE_CJK}]+)*"
)
_SCORE_CJK_RE = re.compile(rf"[{_SCORE_CJK}]")
_INNER_PUNCT_RE = re.compile(r"[\-./:]")


@lru_cache(maxsize=2048)
def token_set(text: str) -> frozenset[str]:
    """The scoring tokenizer: casefolded, lightly stemmed tokens.

    Identifiers come whole and in parts, CJK runs as bigrams; :func:`segment` (the FTS side)
    stays separate because BM25 needs token order and counts, this needs a cached set.
    """
    # Cached per text because the same memories are recalled search after search; words are
    # expanded through their own cache, so a new text costs one dictionary hit per word.
    return frozenset(chain.from_iterable(map(_expand_word, set(text.casefold().split()))))


@lru_cache(maxsize=65536)
def _expand_word(raw: str) -> tuple[str, ...]:
    """The stemmed tokens of one casefolded whitespace-delimited word."""
    if raw.isascii() and raw.replace("_", "").isalnum():
        return _with_parts(raw)
    tokens: list[str] = []
    for match in _SCORE_TOKEN_RE.finditer(raw):
        piece = match.group()
        if not _SCORE_CJK_RE.match(piece):
            tokens.extend(_with_parts(_INNER_PUNCT_RE.sub("_", piece)))
        elif len(piece) == 1:
            tokens.append(piece)
        else:
            tokens.extend(piece[i : i + 2] for i in range(len(piece) - 1))
    return tuple(tokens)


def _with_parts(word: str) -> tuple[str, ...]:
    if "_" not in word:
        return (light_stem(word),)
    return (light_stem(word), *(light_stem(p) for p in word.split("_") if p))
