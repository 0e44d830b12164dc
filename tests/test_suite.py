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
