"""TextAttack recipes run offline against audit adapters (known-answer: a one-word classifier)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from audit.errors import CheckError


@pytest.mark.slow  # the first TextAttack import takes ~8 s
def test_deepwordbug_flips_the_one_word_model_by_editing_that_word(keyword_model) -> None:
    from audit.text.attack import run_attack

    model = keyword_model("great")
    texts = ["the flight crew was great today", "boring long delay at the gate"]
    out = run_attack("deepwordbug", model, texts, np.asarray([1, 0]), query_budget=500, seed=0)
    first, second = out
    assert first.status == "success"
    assert first.original_pred == 1 and first.perturbed_pred == 0
    assert first.words_changed == 1 and first.perturbed_share == pytest.approx(1 / 6)
    assert "great" not in first.perturbed.lower().split() and first.perturbed != first.original
    changed = [w for w, v in zip(first.original.split(), first.perturbed.split(), strict=True) if w != v]
    assert changed == ["great"]
    assert first.queries >= 1
    # a negative text cannot be flipped: no edit can create the word 'great' in one step here
    assert second.status == "failed" and second.words_changed == 0


def test_attack_is_seeded_and_misclassified_texts_are_skipped(keyword_model) -> None:
    from audit.text.attack import run_attack

    model = keyword_model("great")
    texts = ["great seats and great food", "it was great"]
    a = run_attack("pruthi", model, texts, np.asarray([1, 0]), query_budget=300, seed=5)
    b = run_attack("pruthi", model, texts, np.asarray([1, 0]), query_budget=300, seed=5)
    assert [o.perturbed for o in a] == [o.perturbed for o in b]
    assert a[1].status == "skipped"  # predicted positive, labelled negative: nothing to attack
    # two occurrences of 'great' need two edits; pruthi allows one, so the attack fails
    assert a[0].status == "failed"
    c = run_attack("pruthi_2", model, texts[:1], np.asarray([1]), query_budget=2000, seed=5)
    assert c[0].status == "success" and c[0].words_changed == 2


def test_recipes_needing_downloads_are_refused_with_the_reason() -> None:
    from audit.text.attack import require_offline

    with pytest.raises(CheckError) as info:
        require_offline(["deepwordbug", "textfooler", "pwws"])
    message = str(info.value)
    assert "'textfooler' needs counter-fitted word embeddings and the Universal Sentence Encoder" in message
    assert "'pwws' needs NLTK's WordNet corpus" in message
    assert "Recipes that run offline: deepwordbug, pruthi, deepwordbug_substitution, pruthi_2" in message


def test_unknown_recipe_names_are_rejected_with_a_suggestion() -> None:
    from audit.modalities.text.robustness import TextRobustnessParams

    with pytest.raises(ValidationError, match="unknown recipe 'deepwordbog'; did you mean 'deepwordbug'"):
        TextRobustnessParams(recipes=["deepwordbog"])


def test_textattack_import_leaves_the_environment_alone(tmp_path, monkeypatch) -> None:
    import os

    from audit.text.textattack_setup import import_textattack, prepare_nltk_data

    before = {k: os.environ.get(k) for k in ("HF_HOME", "XDG_CACHE_HOME", "TA_CACHE_DIR")}
    import_textattack()
    assert {k: os.environ.get(k) for k in before} == before
    root = prepare_nltk_data(tmp_path / "nltk")
    import nltk

    words = nltk.corpus.reader.WordListCorpusReader(str(root / "corpora" / "stopwords"), ["english"]).words("english")
    assert "the" in words and "great" not in words
