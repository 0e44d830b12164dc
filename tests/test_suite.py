"""Suite loading: every malformed suite is a ConfigError naming the file, key and expectation."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from audit.errors import ConfigError
from audit.suite import GateSpec, Suite, load_suite

GOOD = """\
version: 1
name: demo
data: {builtin: german_credit}
models:
  - {name: lr, recipe: logistic_regression}
checks: [performance]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_suite(write(tmp_path, text))
    return str(info.value)


def test_good_suite_loads_with_defaults(tmp_path):
    suite = load_suite(write(tmp_path, GOOD))
    assert suite.name == "demo"
    assert suite.checks[0].name == "performance" and suite.checks[0].params == {}
    assert suite.data.split.test_size == 0.3
    assert suite.source == (tmp_path / "suite.yaml").resolve()


def test_shipped_credit_suite_is_valid():
    suite = load_suite(Path(__file__).resolve().parents[1] / "suites" / "credit.yaml")
    assert {m.recipe for m in suite.models} >= {"logistic_regression", "hist_gradient_boosting", "credit_mlp"}


def test_bad_yaml_names_line_and_column(tmp_path):
    msg = error_of(tmp_path, "version: 1\nname: [unclosed\n")
    assert msg.startswith(f"{tmp_path / 'suite.yaml'}:3:1: invalid YAML")


def test_unknown_key_is_named_with_its_path(tmp_path):
    msg = error_of(tmp_path, GOOD.replace("data: {builtin: german_credit}", "data: {builtin: german_credit, targte: y}"))
    assert msg == f"{tmp_path / 'suite.yaml'}: data.targte: unknown key (not allowed here)"


def test_unknown_check_suggests_the_closest_name(tmp_path):
    msg = error_of(tmp_path, GOOD.replace("checks: [performance]", "checks: [performence]"))
    assert msg.startswith(f"{tmp_path / 'suite.yaml'}: checks[0].name: unknown check 'performence'; did you mean 'performance'? available: ")
    assert "fairness" in msg


def test_unknown_recipe_suggests(tmp_path):
    msg = error_of(tmp_path, GOOD.replace("recipe: logistic_regression", "recipe: logistic_regresion"))
    assert "models[0].recipe: unknown model recipe 'logistic_regresion'; did you mean 'logistic_regression'?" in msg


def test_check_params_are_validated_against_the_check(tmp_path):
    msg = error_of(tmp_path, GOOD.replace("checks: [performance]", "checks: [{name: performance, params: {bootstrap: -5}}]"))
    assert msg == f"{tmp_path / 'suite.yaml'}: checks[0].params.bootstrap: Input should be greater than or equal to 0 (got -5)"


def test_recipe_params_unknown_key(tmp_path):
    msg = error_of(tmp_path, GOOD.replace("recipe: logistic_regression", "recipe: logistic_regression, params: {C: 1, penalty: l1}"))
    assert msg == f"{tmp_path / 'suite.yaml'}: models[0].params.penalty: unknown key (not allowed here)"


def test_missing_required_key(tmp_path):
    msg = error_of(tmp_path, GOOD.replace("name: demo\n", ""))
    assert msg == f"{tmp_path / 'suite.yaml'}: name: required key is missing"


def test_duplicate_model_names(tmp_path):
    text = GOOD.replace("  - {name: lr, recipe: logistic_regression}", "  - {name: lr, recipe: logistic_regression}\n  - {name: lr, recipe: hist_gradient_boosting}")
    assert "model names must be unique; repeated: lr" in error_of(tmp_path, text)


def test_top_level_must_be_a_mapping(tmp_path):
    assert error_of(tmp_path, "- just\n- a list\n").endswith("expected a mapping of keys (version, name, data, ...) at the top")


def test_missing_file():
    with pytest.raises(ConfigError, match="suite file not found"):
        load_suite("no/such/suite.yaml")


def test_check_restricted_to_unknown_model(tmp_path):
    msg = error_of(tmp_path, GOOD.replace("checks: [performance]", "checks: [{name: performance, models: [gmb]}]"))
    assert "checks[0].models[0]: unknown model 'gmb'" in msg


@pytest.mark.parametrize(
    ("text", "metric", "op", "threshold", "on"),
    [
        ("gbm/fairness/demographic_parity_difference[sex] <= 0.10", "gbm/fairness/demographic_parity_difference[sex]", "<=", 0.1, "value"),
        ("*/performance/roc_auc>=0.7", "*/performance/roc_auc", ">=", 0.7, "value"),
        ("ci_low(lr/performance/accuracy) > 6.5e-1", "lr/performance/accuracy", ">", 0.65, "ci_low"),
        ("gbm/fairness/selection_rate[sex&age_group=female&<25]>=0.5", "gbm/fairness/selection_rate[sex&age_group=female&<25]", ">=", 0.5, "value"),
        ("ci_high(*/latency/throughput_rps[batch=256]) != 1", "*/latency/throughput_rps[batch=256]", "!=", 1.0, "ci_high"),
    ],
)
def test_gate_strings_parse(text, metric, op, threshold, on):
    gate = GateSpec.model_validate(text)
    assert (gate.metric, gate.op, gate.threshold, gate.on) == (metric, op, threshold, on)


def test_bad_gate_string_is_explained(tmp_path):
    msg = error_of(tmp_path, GOOD + 'gates: ["lr/performance/accuracy is high"]\n')
    assert "gates[0]: cannot read gate 'lr/performance/accuracy is high'; expected '<metric path> <op> <number>'" in msg


def test_json_schema_is_complete():
    schema = Suite.model_json_schema()
    assert set(schema["required"]) == {"version", "name", "data", "models", "checks"}
    assert schema["additionalProperties"] is False


def test_duplicate_keys_are_refused_with_both_lines(tmp_path):
    msg = error_of(tmp_path, "version: 1\nname: demo\nseed: 1\n" + GOOD.split("\n", 2)[2] + "seed: 2\nname: other\n")
    where = tmp_path / "suite.yaml"
    assert msg == f"{where}:8:1: duplicate key 'seed' (first at line 3)\n{where}:9:1: duplicate key 'name' (first at line 2)"


def test_duplicate_keys_inside_nested_mappings_and_lists(tmp_path):
    text = GOOD.replace("  - {name: lr, recipe: logistic_regression}", "  - {name: lr, recipe: logistic_regression, name: lr2}")
    assert error_of(tmp_path, text) == f"{tmp_path / 'suite.yaml'}:5:45: duplicate key 'name' (first at line 5)"


def test_merge_keys_may_be_overridden(tmp_path):
    text = GOOD.replace("  - {name: lr, recipe: logistic_regression}", "  - &m {name: lr, recipe: logistic_regression}\n  - {<<: *m, name: lr2}")
    suite = load_suite(write(tmp_path, text))
    assert [(m.name, m.recipe) for m in suite.models] == [("lr", "logistic_regression"), ("lr2", "logistic_regression")]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("version: 1", "version: true", "version: expected a number, not a boolean (got true)"),
        ("name: demo", "name: demo\nseed: yes", "seed: expected a number, not a boolean (got true)"),
        ("checks: [performance]", "checks: [{name: performance, params: {bootstrap: on}}]", "checks[0].params.bootstrap: expected a number, not a boolean (got true)"),
        ("checks: [performance]", "checks: [{name: fairness, params: {confidence: false}}]", "checks[0].params.confidence: expected a number, not a boolean (got false)"),
        ("recipe: logistic_regression}", "recipe: logistic_regression, params: {C: true}}", "models[0].params.C: expected a number, not a boolean (got true)"),
        ("checks: [performance]", "checks: [performance]\ngates: [{metric: lr/performance/accuracy, op: '>=', threshold: true}]", "gates[0].threshold: expected a number, not a boolean (got true)"),
    ],
)
def test_booleans_are_not_numbers(tmp_path, old, new, expected):
    assert error_of(tmp_path, GOOD.replace(old, new)) == f"{tmp_path / 'suite.yaml'}: {expected}"


def test_whole_numbers_are_accepted_where_floats_are_expected(tmp_path):
    text = GOOD.replace("checks: [performance]", "checks: [{name: fairness, params: {confidence: 0.9}}]\ngates: ['lr/fairness/tpr[sex=male] >= 0']")
    text = text.replace("data: {builtin: german_credit}", "data: {builtin: german_credit, split: {test_size: 1}}")
    assert error_of(tmp_path, text) == f"{tmp_path / 'suite.yaml'}: data.split.test_size: Input should be less than 1 (got 1)"


def test_target_cannot_be_sensitive_and_intersections_cannot_repeat(tmp_path):
    text = GOOD.replace(
        "data: {builtin: german_credit}",
        "data: {path: d.csv, target: y, sensitive: [sex, y], intersections: [[sex, sex], [sex, age]]}",
    )
    where = tmp_path / "suite.yaml"
    assert error_of(tmp_path, text).splitlines() == [
        f"{where}: data.sensitive[1]: 'y' is the target (data.target); the target cannot be a sensitive column",
        f"{where}: data.intersections[0][1]: column 'sex' is repeated in this intersection",
        f"{where}: data.intersections[1][1]: 'age' is not listed in data.sensitive; intersections combine sensitive columns",
    ]


def test_gates_are_checked_against_models_checks_and_declared_metrics(tmp_path):
    gates = [
        "gmb/performance/accuracy >= 0.5",
        "lr/fairnes/tpr[sex=male] >= 0.5",
        "lr/performance/acc >= 0.5",
        "*/*/*[*] >= 0",
        "lr/performance/roc_auc",
    ]
    text = GOOD + "gates:\n" + "".join(f"  - {g!r}\n" for g in gates[:4]) + f"  - {{metric: {gates[4]}, op: '>=', threshold: 0.5}}\n"
    text += "  - {metric: 'lr/performance', op: '>=', threshold: 0.5}\n"
    where = tmp_path / "suite.yaml"
    assert error_of(tmp_path, text).splitlines() == [
        f"{where}: gates[0].metric: no model matches 'gmb'; available: data, lr ('data' is for the data-scoped checks: integrity)",
        f"{where}: gates[1].metric: no check of the suite matches 'fairnes'; available: integrity, performance",  # integrity runs by default
        f"{where}: gates[2].metric: no metric of check 'performance' matches 'acc'; available: accuracy, balanced_accuracy, "
        "brier, ece, f1, log_loss, macro_f1, macro_precision, macro_recall, pr_auc, precision, recall, roc_auc",
        f"{where}: gates[5].metric: cannot match any metric: expected '<model>/<check>/<metric>' with an optional "
        "'[<group>]', e.g. gbm/fairness/demographic_parity_difference[sex]; got 'lr/performance'",
    ]


def test_gates_on_undeclared_checks_are_judged_at_run_time(tmp_path, monkeypatch):
    from audit.registry import CHECKS

    monkeypatch.setattr(CHECKS.get("performance"), "metrics", None)
    suite = load_suite(write(tmp_path, GOOD + "gates: ['lr/performance/anything >= 0']\n"))
    assert suite.gates[0].metric == "lr/performance/anything"


def test_validate_imports_no_model_library(tmp_path):
    import subprocess
    import sys

    path = write(tmp_path, GOOD + "gates: ['*/performance/roc_auc >= 0.5']\n")
    code = f"import sys; from audit.cli import main\nmain(['validate', {str(path)!r}])\nprint(sorted({{m.split('.')[0] for m in sys.modules}} & {{'torch', 'sklearn', 'shap', 'transformers', 'captum', 'scipy'}}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
