"""The command line: light --help, exit codes, messages without tracebacks, nothing half-written."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd

from audit.cli import main

HEAVY = ("torch", "shap", "transformers", "captum", "textattack", "sklearn", "pandas", "streamlit")


def test_help_imports_no_heavy_library():
    code = f"import sys; from audit.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\nprint(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_schema_command_prints_the_suite_json_schema(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "Suite" and "gates" in schema["properties"]
    assert main(["schema", "--results"]) == 0
    assert "metrics" in json.loads(capsys.readouterr().out)["properties"]


def test_list_names_builtin_checks_and_recipes(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "performance" in out and "credit_mlp" in out and "german_credit" in out


def test_validate_good_suite(capsys):
    assert main(["validate", "suites/credit.yaml"]) == 0
    assert "valid suite 'credit'" in capsys.readouterr().out


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.normal(size=200), "g": rng.choice(["a", "b"], 200), "y": rng.choice(["p", "n"], 200)})


def test_missing_column_exits_2_naming_key_and_suggestion(suite_writer, capsys, tmp_path):
    suite = suite_writer(_frame(), data={"sensitive": ["gg"]})
    assert main(["run", str(suite)]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == f"audit: error: {suite}: data.sensitive[0]: no column 'gg' in the data; did you mean 'g'? available: g, x, y"
    assert not (tmp_path / "reports").exists()


def test_sensitive_column_with_one_value_exits_2(suite_writer, capsys):
    frame = _frame().assign(g="a")
    suite = suite_writer(frame, data={"sensitive": ["g"]})
    assert main(["run", str(suite)]) == 2
    assert "data.sensitive[0]: column 'g' has a single value" in capsys.readouterr().err


def test_non_numeric_feature_declared_numeric(suite_writer, capsys):
    suite = suite_writer(_frame(), data={"categorical": []})
    assert main(["run", str(suite)]) == 2
    assert "data.features: column 'g' is not numeric; list it in data.categorical" in capsys.readouterr().err


def test_missing_data_file(suite_writer, capsys):
    suite = suite_writer(_frame())
    (suite.parent / "data.csv").unlink()
    assert main(["run", str(suite)]) == 2
    assert "data file not found (suite key data.path)" in capsys.readouterr().err


def test_bad_suite_through_a_real_process_has_no_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: x\ndata: {builtin: german_credit}\nmodels: [{name: m, recipe: logistic_regression}]\nchecks: [fairnes]\n")
    proc = subprocess.run([sys.executable, "-m", "audit", "run", str(bad), "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "checks[0].name: unknown check 'fairnes'; did you mean 'fairness'?" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_missing_values_and_unseen_categories_are_handled(suite_writer):
    frame = _frame()
    frame.loc[::7, "x"] = np.nan
    frame.loc[::5, "g"] = np.nan
    suite = suite_writer(frame, data={"sensitive": ["g"]})
    assert main(["run", str(suite), "-q"]) == 0
