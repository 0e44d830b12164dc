"""The what-if's counterfactual search and decision threshold, checked against scikit-learn's own
``predict`` on a planted rule (only ``x`` decides, at x = 5), and on the real credit run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("dice_ml")

from audit.dashboard.counterfactual import NoCounterfactual, decide, search  # noqa: E402


@pytest.fixture(scope="module")
def planted():
    """y = 1 exactly when x > 5; z and colour are noise; a pipeline on raw frames like the toolkit's."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame(
        {
            "x": rng.integers(0, 11, n).astype(np.int64),
            "z": rng.uniform(0, 10, n),
            "colour": rng.choice(["red", "green", "blue"], n),
            "age": rng.integers(18, 70, n).astype(np.int64),
        }
    )
    y = (frame["x"] > 5).astype(int)
    model = make_pipeline(
        ColumnTransformer([("num", StandardScaler(), ["x", "z", "age"]), ("cat", OneHotEncoder(), ["colour"])]),
        LogisticRegression(C=100.0, max_iter=2000),
    ).fit(frame, y)
    return frame, model


def _score(model):
    return lambda X: model.predict_proba(X)[:, 1]


def test_the_counterfactual_changes_only_x_and_just_across_the_boundary(planted) -> None:
    frame, model = planted
    row = frame[frame["x"] == 2].iloc[[0]].reset_index(drop=True)
    assert model.predict(row)[0] == 0
    cf = search(_score(model), row, frame, numeric=["x", "z", "age"], mutable=["x", "z", "colour"], seed=3)
    assert model.predict(cf.row)[0] == 1  # sklearn's own decision flipped
    assert [f for f, _, _ in cf.changes] == ["x"]  # the planted rule: nothing else is needed
    assert cf.row["x"].dtype == np.int64
    assert cf.row["x"].iloc[0] == 6  # the smallest whole x the rule (and the fitted model) call positive
    back = cf.row.copy()
    back["x"] = 5
    assert model.predict(back)[0] == 0  # one step back does not flip: the change is minimal
    assert cf.flips and cf.score == pytest.approx(model.predict_proba(cf.row)[0, 1])


def test_only_mutable_features_change(planted) -> None:
    frame, model = planted
    for _, original in frame[frame["x"].isin([1, 9])].head(4).iterrows():
        row = original.to_frame().T.astype(frame.dtypes.to_dict()).reset_index(drop=True)
        cf = search(_score(model), row, frame, numeric=["x", "z", "age"], mutable=["x", "colour"], seed=0)
        assert {f for f, _, _ in cf.changes} <= {"x", "colour"}
        assert cf.row[["z", "age"]].equals(row[["z", "age"]])
        assert model.predict(cf.row)[0] != model.predict(row)[0]


def test_no_counterfactual_when_the_allowed_features_cannot_flip_it(planted) -> None:
    frame, model = planted
    row = frame[frame["x"] == 0].iloc[[0]].reset_index(drop=True)
    with pytest.raises(NoCounterfactual, match="found no change of z, colour"):
        search(_score(model), row, frame, numeric=["x", "z", "age"], mutable=["z", "colour"], seed=0)
    with pytest.raises(NoCounterfactual, match="pick at least one"):
        search(_score(model), row, frame, numeric=["x", "z", "age"], mutable=[], seed=0)


def test_the_threshold_is_sklearns_argmax() -> None:
    proba = np.array([[0.7, 0.3], [0.5, 0.5], [0.2, 0.8], [0.4999, 0.5001]])
    assert [decide(p) for p in proba[:, 1]] == list(proba.argmax(axis=1) == 1)


@pytest.mark.slow
def test_credit_what_if_decisions_match_the_run_and_its_counterfactual_flips(credit_run) -> None:
    """The threshold reproduces the run's own predicted labels; the counterfactual flips the reloaded
    model's ``predict`` and leaves the robustness check's immutable features alone."""
    from audit.dashboard.whatif import open_whatif

    r = credit_run.results
    predictions = pd.read_csv(Path(credit_run.run_dir) / "predictions.csv", dtype={"row_id": str})
    for model in ("logreg", "gbm"):
        trusted = [r.manifest["suite_file"], r.models[model]["artefact"]]
        what = open_whatif(r, credit_run.run_dir, model, trusted_paths=trusted)
        mine = predictions[(predictions["model"] == model) & (predictions["dataset"] == "test")]
        assert [what.decision(s) for s in mine["score"]] == mine["y_pred"].astype(str).tolist()
        assert set(what.immutable) == {"age", "foreign_worker", "personal_status_sex"}
        row_id = mine["row_id"].iloc[int(np.argmin(mine["score"]))]
        mutable = [f for f in what.features if f not in what.immutable]
        cf = what.counterfactual(row_id, mutable)
        before = what.model.predict(what.row(row_id)[what.features])[0]
        after = what.model.predict(cf.row[what.features])[0]
        assert before != after, model
        assert what.decision(cf.score) != what.decision(cf.original_score)
        assert {f for f, _, _ in cf.changes} <= set(mutable)
        assert cf.row[what.immutable].astype(str).equals(what.row(row_id)[what.immutable].astype(str))
