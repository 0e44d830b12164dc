"""audit run --mlflow / output.mlflow: logged to a real local MLflow file store and read back."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.cli import main
from audit.integrations.mlflow import log_run, metric_key

pytest.importorskip("mlflow")


def frame(n: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.choice(["a", "b"], n)
    x = rng.normal(size=n)
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-(2 * x + (g == "a")))), "yes", "no")
    return pd.DataFrame({"x": x.round(4), "z": rng.normal(size=n).round(4), "g": g, "y": y})


GATES = ["lr/performance/accuracy >= 0.5", "lr/fairness/demographic_parity_difference[g] <= 0.0001"]
CHECKS = [{"name": "performance", "params": {"bootstrap": 50}}, {"name": "fairness", "params": {"bootstrap": 50, "min_group_size": 10}}]


def read_back(uri: str, run_id: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri), MlflowClient(tracking_uri=uri).get_run(run_id)


def test_metric_keys_are_accepted_by_mlflow_and_readable():
    assert metric_key("gbm/fairness/demographic_parity_difference[sex=female]") == "gbm/fairness/demographic_parity_difference.sex:female"
    assert metric_key("mlp/robustness/robust_accuracy[pgd@0.1]") == "mlp/robustness/robust_accuracy.pgd_0.1"
    assert metric_key("m/shift/accuracy[purpose=radio/television]") == "m/shift/accuracy.purpose:radio_television"
    long = metric_key("m/c/" + "x" * 400)
    assert len(long) == 250 and long != metric_key("m/c/" + "x" * 401)


def test_run_with_mlflow_flag_logs_metrics_gates_params_and_files(suite_writer, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    suite = suite_writer(frame(), name="mlflow_demo", data={"sensitive": ["g"], "positive_label": "yes"}, checks=CHECKS, gates=GATES)
    uri = (tmp_path / "mlruns").as_uri()
    code = main(["run", str(suite), "-q", "--mlflow", uri])
    out = capsys.readouterr().out
    assert code == 1  # the second gate is meant to fail
    run_id = out.split("MLflow run ", 1)[1].split()[0]
    assert f"MLflow run {run_id} logged to {uri}" in out
    assert "MLFLOW_ALLOW_FILE_STORE" not in __import__("os").environ  # allowed for the call only

    run_dir = Path(out.split("run folder: ", 1)[1].split()[0])
    results = json.loads((run_dir / "results.json").read_text())
    client, run = read_back(uri, run_id)
    keys = json.loads(Path(client.download_artifacts(run_id, "metric_keys.json", str(tmp_path / "dl"))).read_text())
    logged = run.data.metrics
    by_path = {path: key for key, path in keys.items()}
    values = [m for m in results["metrics"] if m["value"] is not None and math.isfinite(m["value"])]
    assert values and len(by_path) == len(results["metrics"])
    for m in values:
        key = by_path[m["path"]]
        assert logged[key] == pytest.approx(m["value"], rel=1e-12, abs=0)
        if m["ci"] is not None:
            assert logged[f"{key}.ci_low"] == pytest.approx(m["ci"][0]) and logged[f"{key}.ci_high"] == pytest.approx(m["ci"][1])
    nulls = sum(m["value"] is None for m in results["metrics"])
    assert logged["audit.null_metrics"] == nulls

    tags = run.data.tags
    assert tags["audit.status"] == results["status"] == "fail" and tags["audit.exit_code"] == "1"
    gates = results["gates"]
    first = next(i for i, g in enumerate(gates) if g["expression"].startswith("lr/performance/accuracy"))
    second = next(i for i, g in enumerate(gates) if g["expression"].startswith("lr/fairness/"))
    assert tags[f"gate.{first:02d}"].startswith("pass: lr/performance/accuracy >= 0.5 (observed ")
    assert tags[f"gate.{second:02d}"].startswith("fail: lr/fairness/demographic_parity_difference[g] <= 0.0001")
    for status in ("pass", "warn", "fail", "error", "skipped"):
        assert tags[f"audit.gates.{status}"] == str(sum(g["status"] == status for g in gates))
    assert tags["mlflow.runName"] == results["run_id"]

    params = run.data.params
    assert params["seed"] == "0" and params["audit.suite"] == "mlflow_demo"
    assert params["model.lr.recipe"] == "logistic_regression" and params["model.lr.params.C"] == "1.0"
    assert params["data.sha256"] == results["manifest"]["data_sha256"]

    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"results.json", "report.html", "junit.xml", "gates.json", "metric_keys.json"} <= artifacts
    logged_gates = json.loads(Path(client.download_artifacts(run_id, "gates.json", str(tmp_path / "dl2"))).read_text())
    assert logged_gates["gates"] == gates and logged_gates["exit_code"] == 1
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "mlflow_demo"


def test_output_mlflow_in_the_suite_logs_without_the_flag(suite_writer, tmp_path, capsys):
    import yaml

    suite = suite_writer(frame(), name="mlflow_suite", gates=["lr/performance/accuracy >= 0.5"])
    uri = (tmp_path / "store").as_uri()
    doc = yaml.safe_load(suite.read_text())
    doc["output"]["mlflow"] = {"tracking_uri": uri, "experiment": "audits", "run_name": "nightly"}
    suite.write_text(yaml.safe_dump(doc))
    code = main(["run", str(suite), "-q"])
    run_id = capsys.readouterr().out.split("MLflow run ", 1)[1].split()[0]
    client, run = read_back(uri, run_id)
    assert run.data.tags["audit.exit_code"] == str(code) and run.data.tags["mlflow.runName"] == "nightly"
    assert client.get_experiment(run.info.experiment_id).name == "audits"




def test_missing_mlflow_is_a_clear_error(monkeypatch, tmp_path):
    from audit.errors import MissingExtra

    for name in [m for m in sys.modules if m == "mlflow" or m.startswith("mlflow.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow -> ImportError
    with pytest.raises(MissingExtra) as err:
        log_run(tmp_path, None, None)  # type: ignore[arg-type]
    assert "pip install 'audit[mlflow]'" in str(err.value) and "pip install mlflow-skinny" in str(err.value)
