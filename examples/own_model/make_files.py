"""Make the files a team would bring to an audit, from the shipped German Credit data.

    python examples/own_model/make_files.py        # writes examples/own_model/files/

* ``train.csv`` / ``test.csv``: a fixed split with an ``applicant`` id column (70 / 30 %);
* ``reference.csv``: last quarter's applicants without labels, the drift baseline;
* ``forest.skops``: a scikit-learn pipeline (one-hot + random forest) fitted on train.csv;
* ``forest.onnx``: the same kind of pipeline (one-hot + logistic regression) exported with skl2onnx;
* ``vendor_scores.csv``: a vendor's scores for the test applicants (predictions only, no model).

Nothing here is audit code: it is what any team would have done with scikit-learn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "suites" / "data" / "german_credit.csv"


def main(out: Path = HERE / "files") -> Path:
    import skops.io as sio
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    out.mkdir(parents=True, exist_ok=True)
    frame = pd.read_csv(DATA)
    frame.insert(0, "applicant", [f"A{i:04d}" for i in range(len(frame))])
    rng = np.random.default_rng(7)
    order = rng.permutation(len(frame))
    train, test = frame.iloc[np.sort(order[:700])], frame.iloc[np.sort(order[700:])]
    train.to_csv(out / "train.csv", index=False)
    test.to_csv(out / "test.csv", index=False)
    train.sample(300, random_state=1).drop(columns=["credit_risk"]).to_csv(out / "reference.csv", index=False)

    features = [c for c in frame.columns if c not in ("applicant", "credit_risk")]
    categorical = [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
    numeric = [c for c in features if c not in categorical]
    encode = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), categorical)], remainder="passthrough")
    forest = make_pipeline(encode, RandomForestClassifier(n_estimators=200, min_samples_leaf=3, random_state=0))
    forest.fit(train[features], train["credit_risk"])
    sio.dump(forest, out / "forest.skops")

    try:
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    except ImportError:
        print("skl2onnx is not installed (pip install skl2onnx): forest.onnx not written")
    else:
        scaled = ColumnTransformer([("num", StandardScaler(), numeric), ("cat", OneHotEncoder(handle_unknown="ignore"), categorical)])
        linear = make_pipeline(scaled, LogisticRegression(max_iter=2000)).fit(train[features], train["credit_risk"])
        inputs = [(c, StringTensorType([None, 1]) if c in categorical else FloatTensorType([None, 1])) for c in features]
        (out / "linear.onnx").write_bytes(to_onnx(linear, initial_types=inputs, options={"zipmap": False}).SerializeToString())

    noise = rng.normal(0, 0.15, len(test))
    vendor = np.clip(forest.predict_proba(test[features])[:, list(forest.classes_).index("good")] + noise, 0.0, 1.0)
    pd.DataFrame({"applicant": test["applicant"], "score": vendor.round(6)}).to_csv(out / "vendor_scores.csv", index=False)
    print(f"wrote {', '.join(sorted(p.name for p in out.iterdir()))} to {out}")
    return out


if __name__ == "__main__":
    main()
