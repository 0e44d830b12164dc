"""The text checks end to end on a small synthetic two-domain corpus with the TF-IDF recipe.

Domain 'air' expresses sentiment only with great / awful, domain 'tech' only with love / hate, so
a model trained on one domain has never seen the other's sentiment words: a known, large shift.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit.engine import run_suite

WORDS = {"air": ("awful", "great"), "tech": ("hate", "love")}
SUBJECTS = {"air": ["the flight", "the crew", "the gate agent", "my seat", "the pilot", "the lounge"],
            "tech": ["the phone", "this laptop", "the new app", "my tablet", "the update", "this camera"]}


def corpus(n: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        topic = ("air", "tech")[i % 2]
        label = (i // 2) % 2
        subject = SUBJECTS[topic][rng.integers(6)]
        rows.append({"text": f"{subject} was {WORDS[topic][label]} today, Really!", "y": ("neg", "pos")[label], "topic": topic})
    return pd.DataFrame(rows)


def _run(suite_writer, checks, tmp_path=None):
    path = suite_writer(corpus(), name="texty", data={"modality": "text", "text_column": "text", "positive_label": "pos", "sensitive": ["topic"]},
                        models=[{"name": "tfidf", "recipe": "tfidf_logreg", "params": {"min_df": 1}}], checks=checks)
    outcome = run_suite(path, log=None)
    return outcome, {m.path: m for m in outcome.results.metrics}


def test_text_shift_measures_the_domain_gap_and_perturbation_invariances(suite_writer) -> None:
    checks = [{"name": "shift", "params": {"severities": [0.5, 1.0], "max_examples": 60, "bootstrap": 200}}]
    outcome, m = _run(suite_writer, checks)
    record = outcome.results.checks[0]
    assert record.status == "ok", record.error
    for source in ("air", "tech"):
        assert m[f"tfidf/shift/domain_accuracy_source[{source}]"].value == 1.0
        target = m[f"tfidf/shift/domain_accuracy_target[{source}]"].value
        drop = m[f"tfidf/shift/domain_accuracy_drop[{source}]"]
        assert target < 0.75 and drop.value == pytest.approx(1.0 - target)
        assert drop.ci[0] > 0.2
    # TF-IDF lower-cases and tokenises on word characters: casing and punctuation change nothing
    for severity in (0.5, 1.0):
        assert m[f"tfidf/shift/prediction_stability[casing@{severity}]"].value == 1.0
        assert m[f"tfidf/shift/prediction_stability[punctuation@{severity}]"].value == 1.0
        assert m[f"tfidf/shift/accuracy_drop[casing@{severity}]"].value == 0.0
    # typos in every word destroy the only informative word in many texts
    assert m["tfidf/shift/accuracy_drop[typos@1.0]"].value > 0.2
    assert {r["perturbation"] for r in record.tables["perturbations"]} == {"typos", "char_noise", "casing", "punctuation", "contractions"}


def test_text_shift_validates_its_domain_settings(suite_writer) -> None:
    outcome, _ = _run(suite_writer, [{"name": "shift", "params": {"domain_column": "topic", "sources": ["airline"], "perturbations": []}}])
    assert outcome.results.checks[0].status == "error"
    assert "sources: 'airline' is not a value of 'topic'; did you mean 'air'? available: air, tech" in outcome.results.checks[0].error


@pytest.mark.slow
def test_robustness_and_explain_checks_on_the_baseline(suite_writer) -> None:
    checks = [
        {"name": "robustness", "params": {"recipes": ["deepwordbug", "pruthi"], "sample_size": 6, "query_budget": 300, "bootstrap": 100}},
        {"name": "explain", "params": {"n_examples": 3, "max_evals": 100, "bootstrap": 50}},
        {"name": "robustness", "params": {"recipes": ["textfooler"]}},
    ]
    outcome, m = _run(suite_writer, checks)
    robust, explain, refused = outcome.results.checks
    assert robust.status in ("ok", "warn") and explain.status == "ok", (robust.error, explain.error)
    for recipe in ("deepwordbug", "pruthi"):
        rate = m[f"tfidf/robustness/attack_success_rate[{recipe}]"]
        acc = m[f"tfidf/robustness/accuracy_under_attack[{recipe}]"].value
        orig = m[f"tfidf/robustness/original_accuracy[{recipe}]"].value
        assert orig == 1.0 and acc == pytest.approx(1.0 - rate.value)
        assert m[f"tfidf/robustness/avg_queries[{recipe}]"].value >= 1
    # one sentiment word per text: a single edited word is enough when the attack succeeds
    assert m["tfidf/robustness/attack_success_rate[deepwordbug]"].value > 0.5
    examples = robust.tables["examples_deepwordbug"]
    assert examples and all(e["original_pred"] != e["perturbed_pred"] for e in examples)
    share = m["tfidf/robustness/avg_perturbed_word_share[deepwordbug]"].value
    assert 1 / 7 <= share <= 1 / 3  # one or two of six or seven words
    # SHAP puts the sentiment word first in every explained text
    rows = explain.tables["attributions"]
    assert len(rows) == 3 and all(r["top_tokens"].split(" (")[0] in {"great", "awful", "love", "hate"} for r in rows)
    assert m["tfidf/explain/deletion_drop[shap]"].value > m["tfidf/explain/random_deletion_drop[shap]"].value
    assert [f["kind"] for f in explain.figures] == ["tokens"] * 3
    assert refused.status == "error" and "'textfooler' needs counter-fitted word embeddings" in refused.error
