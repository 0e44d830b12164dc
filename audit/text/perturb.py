"""Seeded, label-preserving text perturbations at a severity in [0, 1].

Each perturbation visits the words of a text (whitespace-separated tokens; ``@handles``,
``#hashtags`` and URLs are left alone) and changes each eligible word with probability
``severity``, so severity 0 is the identity and 1 touches every eligible word:

* ``typos``: one keyboard slip inside the word: a letter replaced by a QWERTY neighbour or two
  adjacent letters swapped (words of 3+ letters; first letter kept).
* ``char_noise``: one random letter inserted, deleted or substituted anywhere in the word.
* ``casing``: the word written in upper, lower or title case (whichever differs from now).
* ``punctuation``: punctuation inside or after the word removed, or (for words without any) a
  mark from ``! ? . ,`` appended.
* ``contractions``: a contraction expanded ("don't" -> "do not") or an expandable pair contracted
  ("do not" -> "don't"), in the casing of the original.

Randomness comes only from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable

import numpy as np

KINDS = ("typos", "char_noise", "casing", "punctuation", "contractions")
QWERTY = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
_POS = {ch: (r, c) for r, row in enumerate(QWERTY) for c, ch in enumerate(row)}
PUNCT = "!?.,"
CONTRACTIONS = {
    "don't": "do not", "doesn't": "does not", "didn't": "did not", "can't": "cannot", "won't": "will not",
    "isn't": "is not", "aren't": "are not", "wasn't": "was not", "weren't": "were not", "haven't": "have not",
    "hasn't": "has not", "hadn't": "had not", "couldn't": "could not", "wouldn't": "would not", "shouldn't": "should not",
    "i'm": "i am", "you're": "you are", "we're": "we are", "they're": "they are", "it's": "it is", "that's": "that is",
    "i've": "i have", "you've": "you have", "we've": "we have", "they've": "they have", "i'll": "i will",
    "you'll": "you will", "we'll": "we will", "they'll": "they will", "i'd": "i would", "let's": "let us",
}
EXPANSIONS = {v: k for k, v in CONTRACTIONS.items() if k not in ("i'd",)}
_SPLIT = re.compile(r"(\s+)")


def neighbours(ch: str) -> str:
    """Keys next to ``ch`` on a QWERTY keyboard (same row and the rows above and below)."""
    if ch.lower() not in _POS:
        return ""
    r, c = _POS[ch.lower()]
    out = [QWERTY[rr][cc] for rr in (r - 1, r, r + 1) for cc in (c - 1, c, c + 1) if 0 <= rr < 3 and 0 <= cc < len(QWERTY[rr]) and (rr, cc) != (r, c)]
    return "".join(x.upper() if ch.isupper() else x for x in out)


def _eligible(token: str) -> bool:
    return bool(token) and not token.startswith(("@", "#", "http", "www.")) and any(ch.isalpha() for ch in token)


def _typo(word: str, rng: np.random.Generator) -> str:
    letters = [i for i, ch in enumerate(word) if ch.isalpha()]
    if len(letters) < 3:
        return word
    i = int(rng.choice(letters[1:]))
    near = neighbours(word[i])
    if rng.random() < 0.5 and near:
        return word[:i] + near[int(rng.integers(len(near)))] + word[i + 1 :]
    j = i - 1 if i - 1 in letters[1:] or i == letters[-1] else i + 1
    a, b = sorted((i, j))
    return word[:a] + word[b] + word[a] + word[b + 1 :] if word[a] != word[b] else word


def _noise(word: str, rng: np.random.Generator) -> str:
    i = int(rng.integers(len(word)))
    letter = string.ascii_lowercase[int(rng.integers(26))]
    op = int(rng.integers(3))
    if op == 0:
        return word[:i] + letter + word[i:]
    if op == 1 and len(word) > 1:
        return word[:i] + word[i + 1 :]
    if word[i].lower() == letter:
        letter = "z" if letter != "z" else "y"
    return word[:i] + letter + word[i + 1 :]


def _case(word: str, rng: np.random.Generator) -> str:
    options = [w for w in (word.upper(), word.lower(), word.capitalize()) if w != word]
    return options[int(rng.integers(len(options)))] if options else word


def _punct(word: str, rng: np.random.Generator) -> str:
    stripped = "".join(ch for ch in word if ch not in string.punctuation or ch == "'")
    if stripped != word and stripped:
        return stripped
    return word + PUNCT[int(rng.integers(len(PUNCT)))]


def _match_case(source: str, target: str) -> str:
    if source.isupper() and len(source) > 1:
        return target.upper()
    if source[:1].isupper():
        return target[:1].upper() + target[1:]
    return target


def contractions(text: str, severity: float, rng: np.random.Generator) -> str:
    """Expand contractions and contract expandable pairs, each occurrence with probability ``severity``."""
    keys = sorted(list(CONTRACTIONS) + list(EXPANSIONS), key=len, reverse=True)
    pattern = re.compile(r"(?<![\w'])(" + "|".join(re.escape(k) for k in keys) + r")(?![\w'])", re.IGNORECASE)

    def swap(match: re.Match[str]) -> str:
        found = match.group(0)
        if rng.random() >= severity:
            return found
        key = found.lower().replace("\u2019", "'")
        new = CONTRACTIONS.get(key) or EXPANSIONS.get(key) or found
        return _match_case(found, new)

    return pattern.sub(swap, text.replace("\u2019", "'"))


WORD_FUNCTIONS: dict[str, Callable[[str, np.random.Generator], str]] = {"typos": _typo, "char_noise": _noise, "casing": _case, "punctuation": _punct}


def distinct_severities(value: list[float]) -> list[float]:
    """A ``severities`` parameter checked and sorted: distinct numbers in (0, 1] (a share of words)."""
    if any(not 0.0 < s <= 1.0 for s in value) or len(set(value)) != len(value):
        raise ValueError("severities must be distinct numbers in (0, 1]")
    return sorted(float(s) for s in value)


def perturb_text(text: str, kind: str, severity: float, rng: np.random.Generator) -> str:
    """``text`` with the ``kind`` perturbation applied at ``severity`` (see the module docstring)."""
    if kind not in KINDS:
        raise ValueError(f"unknown perturbation '{kind}'; available: {', '.join(KINDS)}")
    if not 0.0 <= severity <= 1.0:
        raise ValueError(f"severity must lie in [0, 1]; got {severity}")
    if severity == 0.0:
        return text
    if kind == "contractions":
        return contractions(text, severity, rng)
    change = WORD_FUNCTIONS[kind]
    parts = _SPLIT.split(text)
    for i, token in enumerate(parts):
        if i % 2 == 0 and _eligible(token) and rng.random() < severity:
            parts[i] = change(token, rng)
    return "".join(parts)


def perturb_texts(texts: list[str], kind: str, severity: float, rng: np.random.Generator) -> list[str]:
    return [perturb_text(t, kind, severity, rng) for t in texts]
