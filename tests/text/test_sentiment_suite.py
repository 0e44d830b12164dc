"""suites/sentiment.yaml: validates as shipped, and runs end to end on a very small budget."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from audit.suite import load_suite, parse_suite

SUITE = Path(__file__).resolve().parents[2] / "suites" / "sentiment.yaml"


def test_shipped_suite_validates_with_the_text_pillars() -> None:
    suite = load_suite(SUITE)
    assert suite.data.modality == "text" and suite.data.builtin == "tweets"
    assert [m.recipe for m in suite.models] == ["minilm_classifier", "tfidf_logreg"]
    names = [c.name for c in suite.checks]
    assert {"performance", "shift", "robustness", "fairness", "explain", "latency"} <= set(names)


@pytest.mark.slow
def test_sentiment_suite_end_to_end_small_budget(tmp_path: Path) -> None:
    """The shipped suite with its budgets cut down (MiniLM fine-tuned on 64 tweets)."""
    from audit.engine import run_suite

    raw = yaml.safe_load(SUITE.read_text())
    raw["data"]["options"].update(max_train_examples=400, max_test_examples=120)
    raw["models"][0]["params"].update(max_train_examples=64, max_length=32)
    small = {
        "performance": {"bootstrap": 100},
        "shift": {"retrain_overrides": {"minilm_classifier": {"max_train_examples": 32}}, "severities": [0.5], "perturbations": ["typos", "casing"], "max_examples": 40, "bootstrap": 100, "min_rows": 5},
        "robustness": {"recipes": ["deepwordbug"], "sample_size": 3, "query_budget": 60, "bootstrap": 50},
        "fairness": {"term_sets": ["gender", "religion"], "max_test_cases": 10, "bootstrap": 50},
        "explain": {"methods": ["auto"], "n_examples": 2, "n_steps": 8, "max_evals": 40, "bootstrap": 20},
        "latency": {"repeats": 5, "warmup": 1, "batch_sizes": [1, 8], "batch_repeats": 2, "max_seconds": 1.0, "bootstrap": 0},
    }
    for check in raw["checks"]:
        check["params"] = small[check["name"]]
    raw["gates"] = []
    suite = parse_suite(raw, "small-sentiment")
    outcome = run_suite(suite, output=tmp_path, log=None)
    results = outcome.results
    errors = [(c.model, c.check, c.error) for c in results.checks if c.status == "error"]
    assert not errors
    assert {(c.model, c.check) for c in results.checks} >= {(m, c) for m in ("minilm", "tfidf") for c in small}
    paths = {m.path: m for m in results.metrics}
    for model in ("minilm", "tfidf"):
        assert 0.5 <= paths[f"{model}/performance/accuracy"].value <= 1.0
        assert f"{model}/performance/accuracy[topic=airline]" in paths
        # known answers: both tokenisers lower-case (TfidfVectorizer(lowercase=True); MiniLM's
        # uncased WordPiece vocabulary), so a casing perturbation cannot move a prediction
        assert paths[f"{model}/shift/prediction_stability[casing@0.5]"].value == 1.0
        assert paths[f"{model}/shift/accuracy_drop[casing@0.5]"].value == 0.0
        drop = paths[f"{model}/shift/domain_accuracy_drop[airline]"].value
        source, target = (paths[f"{model}/shift/domain_accuracy_{side}[airline]"].value for side in ("source", "target"))
        assert drop == pytest.approx(source - target, abs=1e-12)
        attack = next(c for c in results.checks if c.model == model and c.check == "robustness")
        assert attack.implementation == "text_robustness" and attack.pillar == "robustness"
        assert 0.0 <= paths[f"{model}/robustness/attack_success_rate[deepwordbug]"].value <= 1.0
        fair = paths[f"{model}/fairness/flip_rate[gender]"]
        assert 0.0 <= fair.value <= 1.0 and fair.n >= 1
    assert paths["minilm/explain/mean_abs_convergence_delta[integrated_gradients]"].value is not None
    assert "tfidf/explain/deletion_drop[shap]" in paths
    explain = next(c for c in results.checks if c.model == "minilm" and c.check == "explain")
    assert [f["kind"] for f in explain.figures] == ["tokens", "tokens"]
    assert (outcome.run_dir / "report.html").is_file()
    assert results.models["minilm"]["kind"] == "transformer" and results.models["minilm"]["modality"] == "text"


def test_retrain_overrides_are_checked_against_the_recipe() -> None:
    from audit.errors import ConfigError

    raw = yaml.safe_load(SUITE.read_text())
    shift = next(c for c in raw["checks"] if c["name"] == "shift")
    shift["params"]["retrain_overrides"] = {"tfidf_logreg": {"max_train_examples": 3}}
    with pytest.raises(ConfigError) as info:
        parse_suite(raw, "s.yaml")
    assert str(info.value) == "s.yaml: checks[1].params.retrain_overrides: tfidf_logreg.max_train_examples: Extra inputs are not permitted"
    shift["params"]["retrain_overrides"] = {"minilm_clasifier": {}}
    with pytest.raises(ConfigError, match="retrain_overrides: unknown model recipe 'minilm_clasifier'; did you mean 'minilm_classifier'\\?"):
        parse_suite(raw, "s.yaml")
