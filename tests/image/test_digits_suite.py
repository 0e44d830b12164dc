"""End to end: suites/digits.yaml (with lighter check parameters) trains, audits and reports."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DIGITS_SUITE = ROOT / "suites" / "digits.yaml"
LIGHTER = {  # check name -> parameter overrides that keep the test quick
    "performance": {"bootstrap": 200},
    "class_disparity": {"bootstrap": 200},
    "image_shift": {"bootstrap": 50},
    "image_robustness": {"n_samples": 150, "epsilons": [0.05, 0.1, 0.2, 0.3], "pgd_steps": 10, "bootstrap": 50},
    "image_explain": {"n_samples": 80, "ig_steps": 16},
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
        if check["name"] == "image_shift":
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
    for model in ("cnn", "logreg"):
        for digit in range(10):
            for metric in ("precision", "recall", "f1"):
                record = flat[f"{model}/performance/{metric}[class={digit}]"]
                assert 0.0 <= record.value <= 1.0 and record.ci is not None
        assert flat[f"{model}/class_disparity/worst_class_recall"].value <= flat[f"{model}/performance/macro_recall"].value
    for corruption in ("gaussian_noise", "blur", "rotation", "translation", "contrast", "occlusion"):
        for severity in range(1, 6):
            assert 0.0 <= flat[f"cnn/image_shift/accuracy[{corruption}@{severity}]"].value <= 1.0
    assert flat["cnn/image_shift/accuracy[gaussian_noise@5]"].value < flat["cnn/image_shift/clean_accuracy"].value
    pgd = [flat[f"cnn/image_robustness/robust_accuracy[pgd@{eps:g}]"].value for eps in (0.05, 0.1, 0.2, 0.3)]
    assert all(b <= a for a, b in zip(pgd, pgd[1:], strict=False)) and pgd[-1] < pgd[0] - 0.5, pgd
    assert pgd[0] <= flat["cnn/image_robustness/clean_accuracy"].value
    assert flat["cnn/image_explain/deletion_auc[ig]"].value < flat["cnn/image_explain/deletion_auc[random]"].value - 0.2
    assert flat["cnn/image_explain/deletion_auc[saliency]"].value < flat["cnn/image_explain/deletion_auc[random]"].value
    assert flat["cnn/image_explain/ig_convergence_delta"].value < 0.1
    assert flat["cnn/latency/p50_ms"].value > 0


@pytest.mark.slow
def test_digits_run_writes_png_figures_into_the_report(digits_run) -> None:  # noqa: ANN001
    run_dir = digits_run.run_dir
    images = [f for c in digits_run.results.checks for f in c.figures if f["kind"] == "image"]
    assert {Path(f["path"]).parts[1:3] for f in images} >= {("cnn", "image_shift"), ("cnn", "image_robustness"), ("cnn", "image_explain")}
    for figure in images:
        assert (run_dir / figure["path"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (run_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(images) == 6
    assert "figure could not be drawn" not in html
