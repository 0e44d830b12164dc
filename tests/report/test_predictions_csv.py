"""predictions.csv never hands a spreadsheet a formula, and numbers stay numbers."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd

from audit.cli import main
from audit.report.predictions import neutralise_cell


def test_formula_cells_are_neutralised_and_numbers_kept():
    assert neutralise_cell("=1+2") == "'=1+2"
    assert neutralise_cell("@SUM(A1)") == "'@SUM(A1)"
    assert neutralise_cell("+cmd|' /C calc'!A0") == "'+cmd|' /C calc'!A0"
    assert neutralise_cell("-2+3") == "'-2+3"
    assert neutralise_cell("\t=x") == "'\t=x"
    for kept in ("-1", "+2.5", "-3e-4", "female", "", 1.5, -2, None):
        assert neutralise_cell(kept) == kept


def test_predictions_csv_from_a_run_with_hostile_group_names(suite_writer):
    rng = np.random.default_rng(0)
    n = 300
    x = rng.normal(size=n)
    frame = pd.DataFrame({
        "x": x,
        "site": rng.choice(["=1+2", "@SUM(A1)", "-1", "plain"], size=n),
        "y": np.where(x + rng.normal(scale=0.5, size=n) > 0, "yes", "no"),
    })
    path = suite_writer(frame, data={"positive_label": "yes", "sensitive": ["site"]})
    assert main(["run", str(path), "-q"]) == 0
    (run,) = (path.parent / "reports" / "synthetic").iterdir()
    with (run / "predictions.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    sites = {r["site"] for r in rows}
    assert sites == {"'=1+2", "'@SUM(A1)", "-1", "plain"}
    assert not any(cell.startswith(("=", "+", "@")) for r in rows for cell in r.values())
    scores = [float(r["score"]) for r in rows]  # numeric cells stay plain numbers
    assert all(0.0 <= s <= 1.0 for s in scores) and not any(r["score"].startswith("'") for r in rows)


def test_multiclass_predictions_keep_every_class_probability():
    import numpy as np
    import pandas as pd

    from audit.data.base import Dataset
    from audit.report.predictions import prediction_table

    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3]])
    test = Dataset("test", pd.DataFrame({"x": [1, 2, 3]}), np.array([0, 2, 2]), ids=np.array([10, 11, 12]))
    table = prediction_table(test, ("a", "b", "c"), {"m": proba})
    assert list(table["y_pred"]) == ["a", "c", "b"] and list(table["y_true"]) == ["a", "c", "c"]
    assert "score" not in table.columns  # no single 'positive' score for three classes
    assert np.array_equal(table[["proba[a]", "proba[b]", "proba[c]"]].to_numpy(), proba)
    test.y = np.array([0, 1, 1])
    binary = prediction_table(test, ("no", "yes"), {"m": proba[:, :2] / proba[:, :2].sum(axis=1, keepdims=True)})
    assert np.allclose(binary["score"], binary["proba[yes]"]) and list(binary["row_id"]) == [10, 11, 12]
