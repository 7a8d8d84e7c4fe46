"""Multi-hop haystacks: chains of 2-4 linked facts planted at random depths in filler.

Everything is generated from a seed (no shipped corpus, no downloads). The filler has
ordinary names, numbers and dates so that compression and gating have real competition.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["Chain", "Haystack", "build_haystack", "gold_chunks", "with_offsets"]

_SUBJECTS = (
    "the committee",
    "a local farmer",
    "the harbour office",
    "the regional council",
    "an old teacher",
    "the museum staff",
    "a delivery company",
    "the night shift",
    "the weather service",
    "a group of students",
    "the railway crew",
    "the town library",
    "a visiting engineer",
    "the market traders",
    "the school board",
    "a quiet neighbour",
)
_VERBS = (
    "reviewed",
    "postponed",
    "discussed",
    "repaired",
    "measured",
    "described",
    "rebuilt",
    "inspected",
    "ignored",
    "celebrated",
    "reported",
    "questioned",
    "painted",
    "catalogued",
)
_OBJECTS = (
    "the annual budget",
    "the northern bridge",
    "a stack of letters",
    "the river crossing",
    "the flower beds",
    "an unusual storm",
    "the bus timetable",
    "the roof of the hall",
    "a collection of maps",
    "the water supply",
    "the winter festival",
    "the parking rules",
)
_TAILS = (
    "after a long debate",
    "without much enthusiasm",
    "before the holidays",
    "in the early morning",
    "with the help of volunteers",
    "despite the rain",
    "as it had promised",
    "for the third time",
    "under some pressure",
    "at a slow pace",
)
_NAMES = ("Anna", "Pieter", "Marta", "Oskar", "Lena", "Tomas", "Ingrid", "Hugo", "Clara", "Felix")
_MONTHS = ("January", "March", "May", "July", "September", "November")
_SYLLABLES = (
    "zor",
    "vex",
    "qui",
    "lam",
    "thar",
    "brin",
    "osk",
    "vel",
    "dra",
    "mun",
    "kyl",
    "pex",
    "ral",
    "tove",
    "nim",
    "ster",
    "gal",
    "wyn",
    "fro",
    "ceth",
    "uld",
    "yar",
    "jos",
    "pri",
)
_THINGS = ("lamp", "engine", "bridge design", "clock", "telescope", "loom", "compass", "kiln")


@dataclass(frozen=True, slots=True)
class Chain:
    """One question: its facts (in hop order), answer and the facts' character offsets."""

    question: str
    answer: str
    facts: tuple[str, ...]
    offsets: tuple[int, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Haystack:
    """A generated document and its planted chains."""

    text: str
    chains: tuple[Chain, ...]


def _name(rng: random.Random, used: set[str], parts: int = 3) -> str:
    while True:
        word = "".join(rng.choice(_SYLLABLES) for _ in range(parts)).capitalize()
        if word not in used:
            used.add(word)
            return word


def _filler_sentence(rng: random.Random) -> str:
    sentence = f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}"
    roll = rng.random()
    if roll < 0.15:
        sentence += f" in {rng.choice(_MONTHS)} {rng.randint(1950, 2024)}"
    elif roll < 0.3:
        sentence += f", according to {rng.choice(_NAMES)}"
    elif roll < 0.4:
        sentence += f" for about {rng.randint(2, 90)} minutes"
    sentence += f" {rng.choice(_TAILS)}."
    return sentence[0].upper() + sentence[1:]


def _paragraph(rng: random.Random) -> str:
    return " ".join(_filler_sentence(rng) for _ in range(rng.randint(4, 8)))


def _chain(rng: random.Random, hops: int, used: set[str]) -> Chain:
    thing = f"{_name(rng, used, 2)} {rng.choice(_THINGS)}"
    people = [f"{_name(rng, used)} {_name(rng, used)}" for _ in range(hops - 1)]
    city = _name(rng, used)
    facts = [f"The {thing} was designed by {people[0]}."]
    if hops >= 3:
        facts.append(f"{people[0]} handed the project over to {people[1]}.")
    if hops >= 4:
        facts.append(f"{people[1]} later mentored {people[2]}.")
    facts.append(f"{people[-1]} lives in the city of {city}.")
    questions = {
        2: f"In which city does the designer of the {thing} live?",
        3: f"In which city does the person who took over the {thing} project from its "
        "designer live?",
        4: f"In which city does the protégé of the person who took over the {thing} project "
        "from its designer live?",
    }
    return Chain(questions[hops], city, tuple(facts))


def build_haystack(
    target_tokens: int,
    *,
    seed: int = 0,
    hops: tuple[int, ...] = (2, 3, 4),
    chars_per_token: float = 4.6,
) -> Haystack:
    """A document of about ``target_tokens`` tokens with one chain per entry of ``hops``.

    Facts are planted inside random filler paragraphs at random depths, in random order
    (a later hop may come before an earlier one), and their offsets are recorded.
    """
    rng = random.Random(seed)
    paragraphs: list[str] = []
    size = 0
    while size < target_tokens * chars_per_token:
        paragraphs.append(_paragraph(rng))
        size += len(paragraphs[-1]) + 2
    used: set[str] = set()
    chains = [_chain(rng, n, used) for n in hops]
    slots = rng.sample(range(len(paragraphs)), k=min(len(paragraphs), sum(hops)))
    plan = [(c, f) for c in range(len(chains)) for f in range(len(chains[c].facts))]
    placed: dict[int, tuple[int, int]] = {}
    for (chain_index, fact_index), slot in zip(plan, slots, strict=False):
        sentences = paragraphs[slot].split(". ")
        cut = rng.randint(0, len(sentences) - 1)
        sentences.insert(cut, chains[chain_index].facts[fact_index].rstrip("."))
        paragraphs[slot] = ". ".join(sentences)
        placed[slot] = (chain_index, fact_index)
    text = "\n\n".join(paragraphs)
    return Haystack(text, tuple(with_offsets(text, chains)))


def with_offsets(text: str, chains: list[Chain]) -> list[Chain]:
    """The chains with the character offset of each fact in ``text``."""
    out = []
    for chain in chains:
        offsets = tuple(text.index(fact.rstrip(".")) for fact in chain.facts)
        out.append(Chain(chain.question, chain.answer, chain.facts, offsets))
    return out


def gold_chunks(chain: Chain, bounds: list[tuple[int, int]]) -> set[int]:
    """Indexes of the chunks (``(start, end)`` character bounds) holding the chain's facts."""
    found = set()
    for offset in chain.offsets:
        for index, (start, end) in enumerate(bounds):
            if start <= offset < end:
                found.add(index)
                break
    return found
