"""End to end: suites/digits.yaml (with lighter check parameters) trains, audits and reports."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DIGITS_SUITE = ROOT / "suites" / "digits.yaml"
LIGHTER = {  # check name -> parameter overrides that keep the test quick
    "performance": {"bootstrap": 200},
    "fairness": {"bootstrap": 200},
    "shift": {"bootstrap": 50},
    "robustness": {"n_samples": 150, "epsilons": [0.05, 0.1, 0.2, 0.3], "pgd_steps": 10, "bootstrap": 50},
    "explain": {"n_samples": 80, "ig_steps": 16},
    "latency": {"repeats": 30, "batch_sizes": [1, 64], "batch_repeats": 3, "max_seconds": 0.5, "bootstrap": 100},
}


def test_shipped_suite_is_valid() -> None:
    from audit.suite import load_suite

    suite = load_suite(DIGITS_SUITE)
    assert suite.data.modality == "image" and suite.data.builtin == "digits"
    assert {c.name for c in suite.checks} == set(LIGHTER)
    assert {m.recipe for m in suite.models} == {"digits_cnn", "pixel_logreg"}


def test_bad_check_parameters_are_config_errors(tmp_path: Path) -> None:
    from audit.errors import ConfigError
    from audit.suite import load_suite

    raw = yaml.safe_load(DIGITS_SUITE.read_text())
    for check in raw["checks"]:
        if check["name"] == "shift":
            check["params"]["severities"] = [1, 6]
    path = tmp_path / "digits.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"checks\[\d\]\.params\.severities: severities must be between 1 and 5; got 6"):
        load_suite(path)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from audit.engine import run_suite

    raw = yaml.safe_load(DIGITS_SUITE.read_text())
    for check in raw["checks"]:
        check["params"] = {**check.get("params", {}), **LIGHTER[check["name"]]}
    folder = tmp_path_factory.mktemp("digits-suite")
    path = folder / "digits.yaml"
    path.write_text(yaml.safe_dump(raw))
    return run_suite(path, output=folder / "reports", log=None)


@pytest.mark.slow
def test_digits_run_meets_the_must_show_facts(digits_run) -> None:  # noqa: ANN001
    from audit.results import load_results

    results = load_results(digits_run.run_dir)
    assert [c for c in results.checks if c.status == "error"] == []
    assert results.exit_code == 0 and results.status == "pass"
    flat = {m.path: m for m in results.metrics}
    assert flat["cnn/performance/accuracy"].value >= 0.95
    # per-class numbers and the fairness pillar's class gaps against sklearn on predictions.csv
    import numpy as np
    import pandas as pd
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    preds = pd.read_csv(digits_run.run_dir / "predictions.csv", dtype={"y_true": str, "y_pred": str})
    for model in ("cnn", "logreg"):
        mine = preds[preds["model"] == model]
        labels = [str(d) for d in range(10)]
        precision, recall, f1, _ = precision_recall_fscore_support(mine["y_true"], mine["y_pred"], labels=labels, zero_division=0)
        for digit, reference in enumerate(zip(precision, recall, f1, strict=True)):
            for metric, expected in zip(("precision", "recall", "f1"), reference, strict=True):
                record = flat[f"{model}/performance/{metric}[class={digit}]"]
                assert record.value == pytest.approx(expected, abs=1e-12) and record.ci is not None
        assert flat[f"{model}/fairness/worst_class_recall"].value == pytest.approx(recall.min(), abs=1e-12)
        assert flat[f"{model}/fairness/recall_gap"].value == pytest.approx(recall.max() - recall.min(), abs=1e-12)
        probabilities = mine[[f"proba[{d}]" for d in labels]].to_numpy()
        assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)  # every class probability is kept
        assert list(mine["y_pred"]) == [labels[k] for k in probabilities.argmax(axis=1)]
    # the shift pillar's clean accuracy is the performance pillar's accuracy on the same rows
    accuracy = accuracy_score(preds.loc[preds["model"] == "cnn", "y_true"], preds.loc[preds["model"] == "cnn", "y_pred"])
    assert flat["cnn/shift/clean_accuracy"].value == pytest.approx(accuracy, abs=1e-12)
    assert flat["cnn/shift/accuracy[gaussian_noise@5]"].value < flat["cnn/shift/clean_accuracy"].value
    pgd = [flat[f"cnn/robustness/robust_accuracy[pgd@{eps:g}]"].value for eps in (0.05, 0.1, 0.2, 0.3)]
    fgsm = [flat[f"cnn/robustness/robust_accuracy[fgsm@{eps:g}]"].value for eps in (0.05, 0.1, 0.2, 0.3)]
    assert pgd[-1] < flat["cnn/robustness/clean_accuracy"].value - 0.5, pgd  # 0.3 of the pixel range breaks the CNN
    assert all(p <= f + 0.02 for p, f in zip(pgd, fgsm, strict=True)), (pgd, fgsm)  # ten PGD steps are no weaker than one FGSM step
    assert flat["cnn/explain/deletion_auc[ig]"].value < flat["cnn/explain/deletion_auc[random]"].value - 0.2
    assert flat["cnn/explain/deletion_auc[saliency]"].value < flat["cnn/explain/deletion_auc[random]"].value
    assert flat["cnn/explain/ig_convergence_delta"].value < 0.1
    assert flat["cnn/latency/p50_ms"].value > 0


@pytest.mark.slow
def test_digits_run_writes_png_figures_into_the_report(digits_run) -> None:  # noqa: ANN001
    run_dir = digits_run.run_dir
    images = [f for c in digits_run.results.checks for f in c.figures if f["kind"] == "image"]
    assert {Path(f["path"]).parts[1:3] for f in images} >= {("cnn", "shift"), ("cnn", "robustness"), ("cnn", "explain")}
    for figure in images:
        assert (run_dir / figure["path"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (run_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(images) == 6
    assert "figure could not be drawn" not in html
