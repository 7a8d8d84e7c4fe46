"""Real-prose haystacks: paraphrased multi-hop chains planted in text nobody tuned on.

Two fillers:

- ``docstrings`` (always available): the docstrings of the Python standard library and of
  the packages installed next to it, read with ``ast`` (nothing is imported or executed),
  cut into paragraphs, code examples dropped. A clean clone has them as soon as the
  project's virtual environment exists, and they were written by hundreds of people for
  another purpose: technical English full of capitalised names, numbers and words such as
  "key", "project", "city" or "holder" that a question may share.
- ``locomo`` (optional): the LoCoMo development conversations (people talking about their
  lives), flattened to prose, one paragraph per few turns. They live outside the repository
  (``../shared/data/locomo-dev`` or ``$LYCHEEMEM_LOCOMO_DIR``); without them the bench
  reports the docstring filler only and every test still passes.

Chains use ordinary English names and codenames drawn from small pools, and every hop is
written in other words than the question (the question asks for "the holder of the
Project Heron vault key", the fact says the strongroom key "was entrusted to" someone), so
the gate cannot rely on the question's wording to find any hop but the first entity.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import random
import re
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from haystack import Chain, Haystack, with_offsets

__all__ = [
    "LOCOMO_DIR",
    "build_prose_haystack",
    "docstring_paragraphs",
    "locomo_paragraphs",
    "prose_chain",
]

LOCOMO_DIR = Path(
    os.environ.get(
        "LYCHEEMEM_LOCOMO_DIR",
        str(Path(__file__).resolve().parents[3] / "shared" / "data" / "locomo-dev"),
    )
)

_SKIP_PARTS = frozenset({"test", "tests", "idle_test", "testing", "_vendor", "vendor"})
_CODE_LINE = re.compile(r"^\s*(>>>|\.\.\.|\$ |[{}\[\]()#@]|def |class |import |from \w+ import)")
_CODE_MARK = re.compile(r"[=_{}<>`|\\]|\(\)|://|\w\.\w+\(")
_MIN_PARAGRAPH = 80


# -- fillers -----------------------------------------------------------------------
def _source_files() -> Iterator[Path]:
    """Standard-library files first, then installed packages, each in sorted order."""
    paths = sysconfig.get_paths()
    stdlib = Path(paths["stdlib"])
    roots = [stdlib, Path(paths["purelib"])]
    seen: set[Path] = set()
    for root in roots:
        if not root.is_dir() or root in seen:
            continue
        seen.add(root)
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root).parts
            if root == stdlib and parts[0] in ("site-packages", "dist-packages"):
                continue
            if _SKIP_PARTS.intersection(parts) or parts[-1].startswith("test_"):
                continue
            yield path


def _docstrings(path: Path) -> list[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
        return []
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, kinds):
            doc = ast.get_docstring(node)
            if doc:
                out.append(doc)
    return out


def _peek(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _prose_paragraphs(doc: str) -> list[str]:
    """Paragraphs of a docstring that read as prose, each joined onto one line."""
    out = []
    for block in re.split(r"\n\s*\n", doc):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if not lines or any(_CODE_LINE.match(line) for line in lines):
            continue
        text = " ".join(lines)
        words = text.split()
        plain = sum(word.strip(".,;:!?\"'()").isalpha() for word in words)
        if (
            len(text) >= _MIN_PARAGRAPH
            and plain >= 0.85 * len(words)
            and not _CODE_MARK.search(text)
            and text[-1] in ".!?"
        ):
            out.append(text)
    return out


def docstring_paragraphs(max_chars: int, *, cache: bool = True) -> list[str]:
    """Prose paragraphs of installed docstrings, deduplicated, up to about ``max_chars``.

    Parsing every installed file takes minutes on a small machine, so the result is
    kept in the system temp directory, keyed by interpreter, library paths and size.
    """
    paths = sysconfig.get_paths()
    key = hashlib.sha256(
        f"{sys.version}|{paths['stdlib']}|{paths['purelib']}|{max_chars}|1".encode()
    ).hexdigest()[:16]
    cached = Path(tempfile.gettempdir()) / f"lycheemem-docstrings-{key}.json"
    if cache and cached.is_file():
        return list(json.loads(cached.read_text(encoding="utf-8")))
    out = _collect_docstrings(max_chars)
    if cache:
        cached.write_text(json.dumps(out), encoding="utf-8")
    return out


def _collect_docstrings(max_chars: int) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    size = 0
    for path in _source_files():
        for doc in _docstrings(path) if '"""' in _peek(path) else []:
            for paragraph in _prose_paragraphs(doc):
                if paragraph in seen:
                    continue
                seen.add(paragraph)
                out.append(paragraph)
                size += len(paragraph) + 2
        if size >= max_chars:
            break
    return out


def locomo_paragraphs(directory: Path = LOCOMO_DIR, turns_per_paragraph: int = 4) -> list[str]:
    """LoCoMo conversations as prose paragraphs; empty when the data is not there."""
    out: list[str] = []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        conversation = json.loads(path.read_text(encoding="utf-8"))
        for key in sorted(conversation, key=_session_order):
            turns = conversation[key]
            if not key.startswith("session_") or not isinstance(turns, list):
                continue
            for start in range(0, len(turns), turns_per_paragraph):
                group = turns[start : start + turns_per_paragraph]
                out.append(" ".join(_turn_sentence(turn) for turn in group))
    return out


def _session_order(key: str) -> tuple[int, str]:
    number = re.search(r"\d+", key)
    return (int(number.group(0)) if number else 0, key)


def _turn_sentence(turn: dict[str, str]) -> str:
    text = turn["text"].strip()
    if text and text[-1] not in ".!?":
        text += "."
    return f"{turn['speaker']} said: {text}"


# -- chains --------------------------------------------------------------------------
_FIRST = (
    "Mirela", "Tobias", "Amara", "Jonas", "Priya", "Callum", "Ines", "Rafael", "Greta",
    "Oliver", "Nadia", "Samuel", "Hana", "Declan", "Lucia", "Emil", "Zora", "Patrick",
    "Elena", "Victor", "Rosa", "Martin", "Leila", "Arthur",
)  # fmt: skip
_LAST = (
    "Okafor", "Lindqvist", "Castellano", "Brennan", "Novak", "Haddad", "Whitlock", "Moreau",
    "Sandoval", "Achterberg", "Kowalczyk", "Ferreira", "Ostrowski", "Delacroix", "Varga",
    "Nakamura", "Ellison", "Petrov", "Abernathy", "Quintero",
)  # fmt: skip
_CODENAMES = (
    "Heron", "Lantern", "Granite", "Juniper", "Meridian", "Tamarind", "Falcon", "Bramble",
    "Cobalt", "Saffron", "Thistle", "Osprey", "Larch", "Quarry", "Willow", "Ember",
)  # fmt: skip
_TOWN_HEAD = ("Dun", "Ash", "Kettle", "Marrow", "Wick", "Fen", "Hollow", "Bram", "Thorn", "Elder")
_TOWN_TAIL = ("mere", "combe", "by", "gate", "ford", "stead", "leigh", "worth")
_PORT_HEAD = ("Kestrel", "Gull", "Saltr", "Anchor", "Tern", "Corr", "Brine", "Storm")
_PORT_TAIL = ("haven", "mouth", "port", "quay", "strand")

# (question phrase, fact templates); the fact never reuses the question's relation words.
_ANCHORS = (
    (
        "the holder of the Project {code} vault key",
        (
            "The key to the {code} strongroom was entrusted to {a}.",
            "Since the spring, {a} has kept the only key that opens the {code} safe room.",
        ),
    ),
    (
        "the person in charge of the {code} archive",
        (
            "Every record of the {code} programme is looked after by {a}.",
            "{a} was made custodian of the {code} papers after the audit.",
        ),
    ),
)
_HANDOVERS = (
    (
        "the successor of {x}",
        (
            "When {a} retired, the work passed to {b}.",
            "{b} took over the duties that {a} used to carry.",
        ),
    ),
    (
        "the mentor of {x}",
        (
            "Years ago {b} trained {a} in the trade.",
            "{a} learned everything about the craft from {b}.",
        ),
    ),
)
_HOMES = (
    (
        "where {x} lives",
        (
            "{a} has made a home in {town} and rarely travels.",
            "These days {a} rents a small flat in {town}.",
        ),
    ),
)
_TWINS = (
    (
        "Which harbour city is twinned with the town {where}?",
        (
            "{town} signed a friendship pact with the port of {port} in 1987.",
            "The sister town of {town} is {port}, a fishing port on the coast.",
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class _People:
    names: list[str]
    code: str
    town: str
    port: str


def _pick_people(rng: random.Random, count: int, used: set[str]) -> _People:
    def fresh(make: object) -> str:
        while True:
            value = make()  # type: ignore[operator]
            if value not in used:
                used.add(value)
                return value

    # first names and surnames are not shared between chains, so chains do not cross
    first = [fresh(lambda: rng.choice(_FIRST)) for _ in range(count)]
    names = [f"{name} {fresh(lambda: rng.choice(_LAST))}" for name in first]
    code = fresh(lambda: rng.choice(_CODENAMES))
    town = fresh(lambda: rng.choice(_TOWN_HEAD) + rng.choice(_TOWN_TAIL))
    port = fresh(lambda: rng.choice(_PORT_HEAD) + rng.choice(_PORT_TAIL))
    return _People(names, code, town, port)


def prose_chain(rng: random.Random, hops: int, used: set[str]) -> Chain:
    """One paraphrased chain of ``hops`` facts (2-4) and its question.

    Shape: codename -> person (-> person) -> town (-> twinned port). The answer is the
    town for an even number of hops and the port for an odd one.
    """
    if not 2 <= hops <= 4:
        raise ValueError("hops must be 2-4")
    with_twin = hops % 2 == 1
    people = _pick_people(rng, hops - 1 - int(with_twin), used)
    anchor_q, anchor_facts = rng.choice(_ANCHORS)
    subject = anchor_q.format(code=people.code)
    facts = [rng.choice(anchor_facts).format(code=people.code, a=people.names[0])]
    for previous, current in zip(people.names, people.names[1:], strict=False):
        hand_q, hand_facts = rng.choice(_HANDOVERS)
        subject = hand_q.format(x=subject)
        facts.append(rng.choice(hand_facts).format(a=previous, b=current))
    home_q, home_facts = rng.choice(_HOMES)
    facts.append(rng.choice(home_facts).format(a=people.names[-1], town=people.town))
    if with_twin:
        twin_q, twin_facts = rng.choice(_TWINS)
        question = twin_q.format(where=f"where {subject} lives")
        facts.append(rng.choice(twin_facts).format(town=people.town, port=people.port))
        return Chain(question, people.port, tuple(facts))
    question = f"In which town does {subject} live?"
    return Chain(question, people.town, tuple(facts))


# -- haystack --------------------------------------------------------------------------
def build_prose_haystack(
    target_tokens: int,
    filler: list[str],
    *,
    seed: int = 0,
    hops: tuple[int, ...] = (2, 3, 4),
    chars_per_token: float = 4.3,
) -> Haystack:
    """About ``target_tokens`` tokens of shuffled ``filler`` paragraphs with planted chains.

    The filler is shuffled and, when shorter than the target, reused in a fresh shuffle
    (so long documents repeat real text rather than invent any). Each fact goes into a
    different paragraph at a random sentence boundary; hops land in random order.
    """
    if not filler:
        raise ValueError("no filler paragraphs")
    rng = random.Random(seed)
    paragraphs: list[str] = []
    size = 0
    pool: list[str] = []
    while size < target_tokens * chars_per_token:
        if not pool:
            pool = list(filler)
            rng.shuffle(pool)
        paragraphs.append(pool.pop())
        size += len(paragraphs[-1]) + 2
    used: set[str] = set()
    chains = [prose_chain(rng, n, used) for n in hops]
    facts = [fact for chain in chains for fact in chain.facts]
    slots = rng.sample(range(len(paragraphs)), k=min(len(paragraphs), len(facts)))
    for fact, slot in zip(facts, slots, strict=False):
        sentences = re.split(r"(?<=[.!?])\s+", paragraphs[slot])
        sentences.insert(rng.randint(0, len(sentences)), fact)
        paragraphs[slot] = " ".join(sentences)
    text = "\n\n".join(paragraphs)
    return Haystack(text, tuple(with_offsets(text, chains)))
