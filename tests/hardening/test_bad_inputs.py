"""Bad data and bad model files: each either works (when it reasonably can) or exits 2 with a clear message."""

from __future__ import annotations

import os
import pickle
import shutil

import numpy as np
import pytest
from hardening_helpers import assert_clean_exit, invoke, tabular_frame

from audit.data.tabular import split_rows
from audit.results import load_results


def run(suite, *extra: str) -> tuple[int, str]:
    code, _, err = invoke(["run", str(suite), "-q", *extra])
    assert_clean_exit(code, err, allowed=(0, 1, 2))
    return code, err


def only_run(suite):
    return load_results(next((suite.parent / "reports" / "case").iterdir()))


def test_missing_feature_values_are_imputed(case):
    frame = tabular_frame()
    frame.loc[::7, "x"] = np.nan
    frame.loc[::5, "cat"] = np.nan
    frame["z"] = np.nan  # a wholly empty column: the imputer drops it, the run still works
    suite = case(frame)
    assert run(suite)[0] == 0
    results = only_run(suite)
    assert results.metric("lr/performance/accuracy").value > 0.6


def test_categories_seen_only_in_test_are_ignored(case):
    frame = tabular_frame()
    y = (frame["y"] == "yes").to_numpy().astype(int)
    _, test_rows = split_rows(y, 0.3, True, seed=1, where="")  # the split the suite will make (seed 1)
    frame.loc[test_rows[:10], "cat"] = "never-seen-in-training"
    suite = case(frame)
    assert run(suite)[0] == 0
    assert only_run(suite).metric("lr/performance/accuracy").n == len(test_rows)


def test_numeric_column_spoiled_by_strings_exits_2_naming_it(case):
    frame = tabular_frame()
    frame["x"] = frame["x"].astype(object)
    frame.loc[[3, 40], "x"] = ["n/a?", "12k"]
    code, err = run(case(frame))
    assert code == 2
    assert "data.features: column 'x' looks numeric but 2 of 300 values are not numbers (e.g. 'n/a?', '12k')" in err
    code, err = run(case(frame, data={"categorical": ["cat", "g"]}))  # declared numeric
    assert code == 2 and "data.features: column 'x' is not numeric; list it in data.categorical" in err
    assert run(case(frame, data={"categorical": ["cat", "g", "x"]}))[0] == 0  # declared categorical: works


def test_an_empty_target_name_exits_2_listing_the_columns(case):
    """Found by the fuzz test: ``target: ''`` reached the did-you-mean helper as None."""
    code, err = run(case(tabular_frame(), data={"target": ""}))
    assert code == 2
    assert "data.target: name the target column (an empty name, or none for a file); columns: x, " in err


def test_small_single_class_and_missing_groups_warn_but_run(case):
    frame = tabular_frame()
    frame.loc[:3, "g"] = "tiny"  # four rows: one or two land in test
    frame.loc[frame["y"] == "yes", "g"] = frame.loc[frame["y"] == "yes", "g"].replace("b", "c")
    frame.loc[frame.index[::9], "g"] = np.nan  # missing values form a group of their own
    suite = case(frame)
    assert run(suite)[0] in (0, 1)
    results = only_run(suite)
    warnings = [w for c in results.checks if c.check == "fairness" for w in c.warnings]
    assert any(w.startswith("group g=b is too small to judge") and "(0 positive," in w for w in warnings), warnings
    assert any(w.startswith("group g=c is too small to judge") and ", 0 negative)" in w for w in warnings), warnings
    assert any(w.startswith("group g=tiny is too small to judge") for w in warnings), warnings
    groups = {m.group for m in results.metrics if m.metric == "selection_rate"}
    assert groups == {"g=a", "g=b", "g=c", "g=tiny", "g=(missing)"}
    assert results.metric("lr/fairness/demographic_parity_difference[g]").value is not None


def test_sensitive_column_with_one_value_exits_2(case):
    code, err = run(case(tabular_frame().assign(g="only")))
    assert code == 2
    assert (
        "data.sensitive[0]: column 'g' has a single value; a sensitive attribute needs at least two groups to compare"
        in err
    )


def test_unknown_builtin_options_exit_2(case, tmp_path):
    suite = case(tabular_frame())
    text = suite.read_text().replace("path: data.csv", "builtin: german_credit\n  options: {bogus: 1}")
    suite.write_text(text)
    code, err = run(suite)
    assert (
        code == 2
        and "data.options: the built-in dataset 'german_credit' does not accept ['bogus']; accepted options: none"
        in err
    )


@pytest.mark.parametrize("suffix", ["skops", "safetensors", "pkl"])
def test_random_bytes_named_as_a_model_exit_2(case, suffix):
    blob = os.urandom(4096)
    name = "model." + suffix
    model = {"name": "m", "load": {"path": name, **({"trust": True} if suffix == "pkl" else {})}}
    if suffix == "safetensors":
        model["recipe"] = "credit_mlp"
    code, err = run(case(tabular_frame(), models=[model], files={name: blob}))
    assert code == 2
    expected = {"skops": "is not a valid skops file", "safetensors": "not found", "pkl": "cannot load"}[suffix]
    assert expected in err, err


def test_random_safetensors_beside_a_real_preprocessor_exit_2(case, tmp_path):
    """A credit_mlp folder whose weights file was replaced by random bytes."""
    trained = case(tabular_frame(), models=[{"name": "mlp", "recipe": "credit_mlp", "params": {"epochs": 1}}])
    assert run(trained)[0] in (0, 1)
    artefact = only_run(trained).models["mlp"]["artefact"]
    folder = tmp_path / "user-model"
    shutil.copytree(artefact, folder)
    (folder / "model.safetensors").write_bytes(os.urandom(4096))
    model = {"name": "mlp", "recipe": "credit_mlp", "load": {"path": str(folder / "model.safetensors")}}
    code, err = run(case(tabular_frame(), models=[model]))
    assert code == 2 and "is not a valid safetensors file" in err
    model["load"]["path"] = str(folder / "weights.safetensors")
    shutil.copy(folder / "model.safetensors", folder / "weights.safetensors")
    code, err = run(case(tabular_frame(), models=[model]))
    assert code == 2 and "'weights.safetensors': a safetensors model is read from the folder the recipe saved" in err


def _pickled_pipeline() -> bytes:
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = tabular_frame()
    pipe = make_pipeline(
        make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["cat", "g"]), remainder="passthrough"),
        LogisticRegression(),
    )
    pipe.fit(frame[["x", "z", "cat", "g"]], frame["y"])
    return pickle.dumps(pipe)


def test_pickle_needs_trust(case):
    blob = _pickled_pipeline()
    code, err = run(
        case(tabular_frame(), models=[{"name": "m", "load": {"path": "model.pkl"}}], files={"model.pkl": blob})
    )
    assert code == 2
    assert (
        "refusing to load 'model.pkl' as pickle: unpickling can run arbitrary code" in err
        and "set load.trust: true" in err
    )
    suite = case(
        tabular_frame(), models=[{"name": "m", "load": {"path": "model.pkl", "trust": True}}], files={"model.pkl": blob}
    )
    assert run(suite)[0] == 0
    assert only_run(suite).metric("m/performance/roc_auc").value > 0.6


def test_a_pickle_that_is_not_a_model_exit_2(case):
    blob = pickle.dumps({"weights": [1, 2, 3]})
    code, err = run(
        case(
            tabular_frame(),
            models=[{"name": "m", "load": {"path": "model.pkl", "trust": True}}],
            files={"model.pkl": blob},
        )
    )
    assert code == 2 and "the file holds a dict, which has no predict_proba" in err


def test_infinite_feature_values_exit_2_naming_file_column_and_row(case):
    frame = tabular_frame()
    frame.loc[2::4, "x"] = np.inf
    frame.loc[5, "z"] = -np.inf
    suite = case(frame)
    code, err = run(suite)
    assert code == 2
    assert (
        f"{suite.parent / 'data.csv'}: column 'x' holds 75 infinite values (first at row 3 below the header: inf); "
        "replace them with finite numbers or leave the cells empty (missing values are imputed)"
    ) in err
    assert not (suite.parent / "reports").exists()


def test_duplicate_csv_column_names_exit_2(case):
    suite = case(tabular_frame())
    data = suite.parent / "data.csv"
    lines = data.read_text().splitlines()
    lines[0] = lines[0].replace("z", "x")  # header x,x,cat,g,y: pandas would rename the second 'x.1'
    data.write_text("\n".join(lines) + "\n")
    code, err = run(suite)
    assert code == 2
    assert f"{data}: the header names column 'x' 2 times (columns 1 and 2); column names must be unique" in err
    assert not (suite.parent / "reports").exists()


def test_a_folder_given_as_data_is_named_as_such(case):
    suite = case(tabular_frame())
    data = suite.parent / "data.csv"
    data.unlink()
    data.mkdir()
    code, err = run(suite)
    assert code == 2 and f"{data}: is a folder, not a regular file (suite key data.path)" in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_given_as_data_is_refused_without_blocking(case):
    import subprocess
    import sys

    suite = case(tabular_frame())
    data = suite.parent / "data.csv"
    data.unlink()
    os.mkfifo(data)
    # a separate process with a timeout: opening a FIFO for reading would block until a writer comes
    proc = subprocess.run([sys.executable, "-m", "audit", "run", str(suite), "-q"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{data}: is a FIFO (named pipe), not a regular file (suite key data.path)" in proc.stderr
