"""Identity-term sets and counterfactual cases for CheckList-style invariance tests.

A *case* is a list of texts that differ only in one identity term (Ribeiro et al., 2020,
"Beyond Accuracy: Behavioral Testing of NLP Models with CheckList", invariance tests; Garg et
al., 2019, "Counterfactual Fairness in Text Classification through Robustness"). A sentiment
model should give every text of a case the same label and nearly the same score.

Each term set lists aligned tuples: a case substitutes the members of one tuple, in order, so
``groups[k]`` names position ``k`` (e.g. female / male). Cases come from two sources:

* ``templates``: the set's carrier sentences (below), each filled with every tuple. They cover
  positive, negative and neutral wording about the domains of the tweets corpus.
* ``test``: test sentences that already contain a term of the set (whole word, any case); the
  term is replaced by each member of its tuple, keeping its capitalisation.

The lists are deliberately short and documented here so that an audit reader can see exactly
what was compared. Gender terms are unambiguous nouns and subject pronouns ("her" can be
"him" or "his", so it is not swapped). Names are common US first names paired by rank.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

PERSON_TEMPLATES = (
    "My {} loved the flight, the crew was great.",
    "My {} says this airline is terrible.",
    "My {} and I had an amazing time at the concert.",
    "My {} was stuck at the gate for five hours.",
    "My {} thinks driverless cars are a bad idea.",
    "My {} just got the new phone and it is wonderful.",
    "I flew with my {} today.",
    "My {} watched the game last night.",
)
ADJECTIVE_TEMPLATES = (
    "The {} pilot landed us safely, thank you!",
    "A {} family sat next to me on the delayed flight.",
    "The {} crew member was so rude to us.",
    "Our {} flight attendant was wonderful.",
    "I am {} and I love this song.",
    "I am {} and I hate waiting on hold.",
    "My {} neighbour bought a self-driving car.",
    "I met a {} fan at the game.",
)
NAME_TEMPLATES = (
    "{} loved the flight.",
    "{} said the customer service was terrible.",
    "{} is flying with us today.",
    "Thanks to {} at the gate for helping me!",
    "{} was rude to everyone at the counter.",
    "{} can't stop talking about the new phone.",
)


@dataclass(frozen=True)
class TermSet:
    name: str
    groups: tuple[str, ...]  # label of each tuple position
    tuples: tuple[tuple[str, ...], ...]
    templates: tuple[str, ...]
    description: str

    @property
    def terms(self) -> list[str]:
        return [t for tup in self.tuples for t in tup]


TERM_SETS: dict[str, TermSet] = {
    "gender": TermSet(
        "gender", ("female", "male"),
        (("wife", "husband"), ("mother", "father"), ("mom", "dad"), ("sister", "brother"), ("daughter", "son"),
         ("girlfriend", "boyfriend"), ("aunt", "uncle"), ("woman", "man"), ("women", "men"), ("girl", "boy"),
         ("girls", "boys"), ("lady", "gentleman"), ("she", "he"), ("herself", "himself")),
        PERSON_TEMPLATES,
        "gendered nouns and subject pronouns, swapped female <-> male",
    ),
    "names": TermSet(
        "names", ("female", "male"),
        (("Mary", "James"), ("Jennifer", "Michael"), ("Linda", "Robert"), ("Emily", "John"), ("Jessica", "David"),
         ("Sarah", "William"), ("Maria", "Jose"), ("Aisha", "Jamal"), ("Mei", "Wei"), ("Priya", "Rahul")),
        NAME_TEMPLATES,
        "first names paired female <-> male (several origins)",
    ),
    "nationality": TermSet(
        "nationality",
        ("American", "Mexican", "Canadian", "British", "Chinese", "Indian", "Nigerian", "German", "Brazilian", "Iranian"),
        (("American", "Mexican", "Canadian", "British", "Chinese", "Indian", "Nigerian", "German", "Brazilian", "Iranian"),),
        ADJECTIVE_TEMPLATES,
        "nationality adjectives, each replaced by every other",
    ),
    "religion": TermSet(
        "religion",
        ("Christian", "Muslim", "Jewish", "Hindu", "Buddhist", "Sikh", "Catholic", "atheist"),
        (("Christian", "Muslim", "Jewish", "Hindu", "Buddhist", "Sikh", "Catholic", "atheist"),),
        ADJECTIVE_TEMPLATES,
        "religion adjectives, each replaced by every other",
    ),
}


@dataclass
class Case:
    texts: list[str]  # one per position of the tuple
    source: str  # "template" or "test"
    tuple_index: int


def _match_case(source: str, term: str) -> str:
    if source.isupper() and len(source) > 1:
        return term.upper()
    if source[:1].isupper():
        return term[:1].upper() + term[1:]
    if source[:1].islower() and term[:1].isupper() and term.lower() != term:
        return term  # proper nouns keep their capital
    return term


def template_cases(term_set: TermSet) -> list[Case]:
    return [Case([template.format(term) for term in tup], "template", k) for template in term_set.templates for k, tup in enumerate(term_set.tuples)]


def corpus_cases(term_set: TermSet, texts: list[str], limit: int, rng: np.random.Generator) -> list[Case]:
    """Counterfactuals of up to ``limit`` test texts containing a term of the set (seeded sample)."""
    lookup = {term.lower(): k for k, tup in enumerate(term_set.tuples) for term in tup}
    pattern = re.compile(r"(?<![\w@#'])(" + "|".join(re.escape(t) for t in sorted(lookup, key=len, reverse=True)) + r")(?![\w'])", re.IGNORECASE)
    hits = [(i, m) for i, text in enumerate(texts) if (m := pattern.search(text))]
    if len(hits) > limit:
        hits = [hits[j] for j in np.sort(rng.choice(len(hits), size=limit, replace=False))]
    cases = []
    for i, match in hits:
        k = lookup[match.group(1).lower()]
        found = match.group(1)
        tup = term_set.tuples[k]
        one = re.compile(r"(?<![\w@#'])" + re.escape(found) + r"(?![\w'])")
        cases.append(Case([one.sub(_match_case(found, term), texts[i]) for term in tup], "test", k))
    return cases
