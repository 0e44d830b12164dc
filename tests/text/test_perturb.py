"""Text perturbations: identity at severity 0, seeded, and each kind does what it says."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.text.perturb import KINDS, neighbours, perturb_text

TEXT = "@united I don't think the flight was great, do not fly with them! http://t.co/x It's BAD."


@pytest.mark.parametrize("kind", KINDS)
def test_severity_zero_is_identity_and_runs_are_seeded(kind: str) -> None:
    assert perturb_text(TEXT, kind, 0.0, np.random.default_rng(0)) == TEXT
    a = perturb_text(TEXT, kind, 0.5, np.random.default_rng(1))
    b = perturb_text(TEXT, kind, 0.5, np.random.default_rng(1))
    assert a == b
    full = perturb_text(TEXT, kind, 1.0, np.random.default_rng(2))
    assert full != TEXT
    # handles and URLs are never touched
    assert full.startswith("@united ") and "http://t.co/x" in full


def test_known_answers_at_full_severity() -> None:
    rng = np.random.default_rng(0)
    assert perturb_text("I don't know, it's fine. Do not go", "contractions", 1.0, rng) == "I do not know, it is fine. Don't go"
    assert perturb_text("hello world", "casing", 1.0, rng) in {f"{a} {b}" for a in ("HELLO", "Hello") for b in ("WORLD", "World")}
    assert perturb_text("great, fun!", "punctuation", 1.0, rng) == "great fun"
    typo = perturb_text("keyboard", "typos", 1.0, rng)
    assert typo[0] == "k" and len(typo) == len("keyboard") and typo != "keyboard"
    noisy = perturb_text("keyboard", "char_noise", 1.0, rng)
    assert abs(len(noisy) - len("keyboard")) <= 1 and noisy != "keyboard"


def test_qwerty_neighbours() -> None:
    assert set(neighbours("g")) == set("rtyfhvbn")
    assert set(neighbours("q")) == set("was")
    assert neighbours("G").isupper() and neighbours("1") == ""


@settings(max_examples=60, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("abcdefg XYZ,.!'")), max_size=40), kind=st.sampled_from(KINDS), severity=st.floats(0.0, 1.0), seed=st.integers(0, 2**16))
def test_perturbations_never_fail_and_keep_word_count_for_char_edits(text: str, kind: str, severity: float, seed: int) -> None:
    out = perturb_text(text, kind, severity, np.random.default_rng(seed))
    assert isinstance(out, str)
    if kind in ("typos", "casing"):
        assert len(out.split()) == len(text.split())
