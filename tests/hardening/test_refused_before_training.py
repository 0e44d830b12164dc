"""Malformed suites that used to run (or fail only after training) exit 2 before anything is built.

Each case runs ``audit run`` in-process and asserts: exit 2, no traceback, a message naming the
file and the key, no run folder, no trained model in the (isolated) model cache, and a run short
enough that no model can have been trained.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hardening_helpers import assert_clean_exit, invoke, tabular_frame, write_case

CHECKS = [{"name": "performance", "params": {"bootstrap": 20}}, {"name": "fairness", "params": {"bootstrap": 20}}]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "model-cache"
    monkeypatch.setenv("AUDIT_CACHE_DIR", str(folder))
    return folder


def refused(suite: Path, cache: Path, *extra: str) -> str:
    """Run ``suite``; assert it was refused before training; return stderr."""
    start = time.perf_counter()
    code, out, err = invoke(["run", str(suite), "-q", *extra])
    assert_clean_exit(code, err, allowed=(2,))
    assert time.perf_counter() - start < 20
    assert not (suite.parent / "reports").exists(), "a run folder was written"
    assert not cache.exists() or not any(cache.rglob("*")), "a model was trained"
    return err


def case(tmp_path: Path, **keys) -> Path:
    return write_case(tmp_path / "case", tabular_frame(), checks=keys.pop("checks", CHECKS), **keys)


def test_duplicate_keys_at_any_level_name_both_lines(tmp_path, cache):
    suite = case(tmp_path)
    text = suite.read_text()
    text = text.replace("seed: 1\n", "seed: 1\nseed: 2\n").replace("  target: y\n", "  target: y\n  target: g\n")
    suite.write_text(text)
    err = refused(suite, cache)
    lines = text.splitlines()
    first_seed, second_seed = [i + 1 for i, line in enumerate(lines) if line.startswith("seed:")]
    first_target, second_target = [i + 1 for i, line in enumerate(lines) if line.startswith("  target:")]
    assert f"audit: error: {suite}:{second_seed}:1: duplicate key 'seed' (first at line {first_seed})" in err
    assert f"{suite}:{second_target}:3: duplicate key 'target' (first at line {first_target})" in err


def test_merge_keys_still_work(tmp_path):
    suite = case(tmp_path)
    text = suite.read_text().replace("models:\n", "defaults: &lr {name: lr, recipe: logistic_regression}\nmodels:\n", 1)
    suite.write_text(text)
    code, _, err = invoke(["validate", str(suite)])
    assert code == 2 and "defaults: unknown key (not allowed here)" in err  # merged fine; the extra key is refused
    text = text.replace("defaults: &lr {name: lr, recipe: logistic_regression}\n", "")
    text = text.replace(
        "- name: lr\n  recipe: logistic_regression",
        "- {<<: {name: lr, recipe: hist_gradient_boosting}, recipe: logistic_regression}",
    )
    suite.write_text(text)
    assert invoke(["validate", str(suite)])[0] == 0


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"seed": True}, "seed: expected a number, not a boolean (got true)"),
        ({"version": True}, "version: expected a number, not a boolean (got true)"),
        (
            {"checks": [{"name": "performance", "params": {"bootstrap": True}}]},
            "checks[0].params.bootstrap: expected a number, not a boolean (got true)",
        ),
        (
            {"models": [{"name": "lr", "recipe": "logistic_regression", "params": {"C": True}}]},
            "models[0].params.C: expected a number, not a boolean (got true)",
        ),
        (
            {"data": {"split": {"test_size": False}}},
            "data.split.test_size: expected a number, not a boolean (got false)",
        ),
        (
            {"gates": [{"metric": "lr/performance/accuracy", "op": ">=", "threshold": True}]},
            "gates[0].threshold: expected a number, not a boolean (got true)",
        ),
        (
            {"checks": [{"name": "shift", "params": {"severities": [0.5, True]}}]},
            "checks[0].params.severities[1]: expected a number, not a boolean (got true)",
        ),
    ],
)
def test_booleans_are_not_numbers(tmp_path, cache, edit, message):
    data = edit.pop("data", {})
    err = refused(case(tmp_path, data=data, **edit), cache)
    assert f"{tmp_path / 'case' / 'suite.yaml'}: {message}" in err


def test_integers_still_count_as_numbers(tmp_path):
    suite = case(
        tmp_path,
        gates=[{"metric": "lr/performance/accuracy", "op": ">=", "threshold": 0}],
        data={"split": {"test_size": 1}},
    )
    code, _, err = invoke(["validate", str(suite)])
    assert code == 2 and err.strip().endswith("data.split.test_size: Input should be less than 1 (got 1)")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"sensitive": ["g", "y"]},
            "data.sensitive[1]: 'y' is the target (data.target); the target cannot be a sensitive column",
        ),
        (
            {"sensitive": ["g", "cat"], "intersections": [["g", "g"]]},
            "data.intersections[0][1]: column 'g' is repeated in this intersection",
        ),
        (
            {"sensitive": ["g"], "intersections": [["g", "cat"]]},
            "data.intersections[0][1]: 'cat' is not listed in data.sensitive; intersections combine sensitive columns",
        ),
        ({"sensitive": ["g", "g"]}, "data.sensitive[1]: column 'g' is listed twice"),
    ],
)
def test_contradictory_data_keys(tmp_path, cache, data, message):
    suite = case(tmp_path, data=data)
    assert f"{suite}: {message}" in refused(suite, cache)


def test_output_dir_that_is_a_file(tmp_path, cache):
    blocker = tmp_path / "not-a-folder.txt"
    blocker.write_text("x")
    suite = case(tmp_path, output={"dir": str(blocker)})
    err = refused(suite, cache)
    assert f"audit: error: {suite}: output.dir: '{blocker}' is a file, not a folder" in err
    suite = case(tmp_path, output={"dir": str(blocker / "sub")})
    assert f"output.dir: '{blocker / 'sub'}' cannot be created: '{blocker}' is a file, not a folder" in refused(
        suite, cache
    )


def test_output_option_that_is_a_file(tmp_path, cache):
    blocker = tmp_path / "out.txt"
    blocker.write_text("x")
    err = refused(case(tmp_path), cache, "--output", str(blocker))
    assert f"audit: error: --output: '{blocker}' is a file, not a folder" in err


def test_output_folder_whose_suite_subfolder_is_a_file(tmp_path, cache):
    out = tmp_path / "out"
    out.mkdir()
    (out / "case").write_text("x")
    err = refused(case(tmp_path, output={"dir": str(out)}), cache)
    assert f"output.dir: '{out}': '{out / 'case'}', the folder of this suite's runs, is a file, not a folder" in err


def test_every_bad_gate_is_listed_before_the_run(tmp_path, cache):
    gates = [
        "gmb/performance/accuracy >= 0.5",
        "lr/performence/accuracy >= 0.5",
        "lr/performance/acuracy >= 0.5",
        "*/performance/roc_auc >= 0.5",  # fine
        "data/performance/accuracy >= 0.5",
        "lr/fairness/demographic_parity_diff[g] <= 0.2",
    ]
    suite = case(tmp_path, gates=gates)
    err = refused(suite, cache)
    expected = [
        f"{suite}: gates[0].metric: no model matches 'gmb'; available: data, lr ('data' is for the data-scoped checks: integrity)",
        f"{suite}: gates[1].metric: no check of the suite matches 'performence'; did you mean 'performance'? available: fairness, integrity, performance",
        f"{suite}: gates[2].metric: no metric of check 'performance' matches 'acuracy'; did you mean 'accuracy'? available: ",
        f"{suite}: gates[4].metric: check 'performance' does not run on 'data'; checks that do: integrity",  # the implicit integrity pillar
        f"{suite}: gates[5].metric: no metric of check 'fairness' matches 'demographic_parity_diff'; did you mean 'demographic_parity_difference'?",
    ]
    for line in expected:
        assert line in err, err
    assert "gates[3]" not in err
    code, _, err = invoke(["validate", str(suite)])  # validate says the same
    assert code == 2 and all(line in err for line in expected)


def test_data_scoped_check_gates_use_the_data_segment(tmp_path):
    checks = [*CHECKS, {"name": "drift"}]
    good = case(tmp_path, checks=checks, gates=["data/drift/share_drifted <= 0.5"])
    assert invoke(["validate", str(good)])[0] == 0
    bad = case(tmp_path, checks=checks, gates=["lr/drift/share_drifted <= 0.5"])
    code, _, err = invoke(["validate", str(bad)])
    assert (
        code == 2
        and "gates[0].metric: check 'drift' does not run on 'lr'; checks that do: fairness, performance" in err
    )


def test_unknown_shift_scenario_column_is_refused_after_loading_the_data(tmp_path, cache):
    shift = {
        "name": "shift",
        "params": {"scenarios": [{"name": "s", "column": "xx", "op": ">", "value": 0}], "bootstrap": 0},
    }
    suite = case(tmp_path, checks=[*CHECKS, shift])
    assert invoke(["validate", str(suite)])[0] == 0  # the data's columns are not known to validate
    err = refused(suite, cache)
    assert (
        f"{suite}: checks[2].params.scenarios[0].column: 'xx' is not a feature or sensitive column; did you mean 'x'? available: "
        in err
    )


def test_other_column_references_are_refused_together(tmp_path, cache):
    checks = [
        {"name": "fairness", "params": {"columns": ["gg"]}},
        {"name": "drift", "params": {"features": ["x", "zz"]}},
        {"name": "robustness", "params": {"immutable": ["catt"]}},
    ]
    suite = case(tmp_path, checks=checks)
    err = refused(suite, cache)
    assert (
        f"{suite}: checks[0].params.columns[0]: 'gg' is not a sensitive column or intersection; did you mean 'g'?"
        in err
    )
    assert f"{suite}: checks[1].params.features[1]: 'zz' is not a feature column; did you mean 'z'?" in err
    assert f"{suite}: checks[2].params.immutable[0]: 'catt' is not a feature column; did you mean 'cat'?" in err


@pytest.mark.parametrize(
    ("gate", "message"),
    [
        (
            "lr/fairness/demographic_parity_difference[gg] <= 0.2",
            "no sensitive column or intersection 'gg' in the data; did you mean 'g'?",
        ),
        ("lr/fairness/tpr[g=aa] >= 0.2", "'aa' is not a value of 'g' in the data; did you mean 'a'? available: a, b"),
        (
            "lr/fairness/tpr[gg=a] >= 0.2",
            "no sensitive column or intersection 'gg' in the data (groups are written [<column>=<value>]); did you mean 'g'?",
        ),
        (
            "lr/fairness/demographic_parity_difference[g=a] <= 0.2",
            "'demographic_parity_difference' compares the groups of a column: write [g], not one group",
        ),
        ("lr/performance/accuracy[g] >= 0.2", "performance measures each group of a column: write [g=<value>]"),
    ],
)
def test_gate_groups_the_data_lacks(tmp_path, cache, gate, message):
    suite = case(tmp_path, gates=[gate])
    assert f"{suite}: gates[0].metric: {message}" in refused(suite, cache)


def test_good_group_gates_still_run(tmp_path):
    gates = [
        "lr/fairness/demographic_parity_difference[g] <= 1",
        "lr/fairness/tpr[g=a] >= 0",
        "lr/performance/accuracy[g=b] >= 0",
        "*/*/*[*] >= -1e9",
    ]
    suite = case(
        tmp_path, gates=gates, models=[{"name": "lr", "recipe": "logistic_regression", "params": {"max_iter": 50}}]
    )
    code, _, err = invoke(["run", str(suite), "-q"])
    assert_clean_exit(code, err, allowed=(0,))
