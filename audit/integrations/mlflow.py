"""Log a finished audit run to MLflow: metrics, gate outcomes, params and the report files.

The run folder stays the record; MLflow gets a copy to compare runs over time:

* **metrics**: every metric with a value, under a key MLflow accepts (metric paths hold
  ``[group=value]`` brackets that MLflow refuses; see :func:`metric_key`), its interval as
  ``<key>.ci_low`` and ``<key>.ci_high``; ``metric_keys.json`` maps each key back to its path.
  Null metrics are not logged; their number is (``audit.null_metrics``).
* **gates**: one tag per outcome (``gate.NN``: status, expression, observed value), counts per
  status, the overall status and exit code as tags; ``gates.json`` holds them all.
* **params**: seed, suite name, data and suite hashes, each model's recipe and parameters.
* **artifacts**: results.json, report.html and junit.xml of the run folder.

mlflow (``mlflow-skinny`` is enough) is imported only here, inside :func:`log_run`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.errors import AuditError, MissingExtra

if TYPE_CHECKING:
    from audit.results import RunResults
    from audit.suite import MlflowSpec

MAX_KEY = 250  # MLflow's limit on metric, param and tag key length
MAX_VALUE = 6000  # param values (MLflow >= 2.x)
BATCH = {"metrics": 1000, "params": 100, "tags": 100}  # MLflow's log_batch limits
ARTIFACTS = ("results.json", "report.html", "junit.xml")
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_\-. :/]")


class MlflowError(AuditError):
    """The run was written but could not be logged to MLflow."""


def metric_key(path: str) -> str:
    """An MLflow key for a metric path: ``a/b/m[sex=female]`` -> ``a/b/m.sex:female``.

    ``[`` becomes ``.``, ``]`` is dropped, ``=`` becomes ``:``, a ``/`` inside the brackets and
    any other character MLflow refuses become ``_``; an over-long key is cut and given a short hash. Readable, and
    ``metric_keys.json`` holds the exact inverse.
    """
    base, bracket, group = path.partition("[")
    if bracket:  # a '/' in a group value would open a folder in a file store
        base = f"{base}.{group.removesuffix(']').replace('/', '_').replace('=', ':')}"
    key = _NOT_ALLOWED.sub("_", base)
    if len(key) > MAX_KEY:
        key = f"{key[: MAX_KEY - 9]}~{hashlib.sha256(path.encode()).hexdigest()[:8]}"
    return key


def _unique_keys(paths: list[str]) -> dict[str, str]:
    """{mlflow key: metric path}; keys made unique (``~2``, ``~3``) where two paths collide."""
    out: dict[str, str] = {}
    for path in paths:
        key = base = metric_key(path)
        n = 2
        while key in out and out[key] != path:
            key = f"{base[: MAX_KEY - 4]}~{n}"
            n += 1
        out[key] = path
    return out


def _flatten(prefix: str, value: Any) -> dict[str, str]:
    if isinstance(value, dict) and value:
        out: dict[str, str] = {}
        for k, v in value.items():
            out.update(_flatten(f"{prefix}.{k}", v))
        return out
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return {_NOT_ALLOWED.sub("_", prefix)[:MAX_KEY]: text[:MAX_VALUE]}


def run_params(results: RunResults) -> dict[str, str]:
    """What the run was: seed, suite, data and suite hashes, each model's recipe and parameters."""
    manifest = results.manifest
    params = {
        "audit.suite": results.suite.get("name", ""),
        "audit.run_id": results.run_id,
        "audit.schema_version": str(results.schema_version),
        "seed": str(manifest.get("seed")),
        "data.source": str(manifest.get("data_source")),
        "data.sha256": str(manifest.get("data_sha256")),
        "suite.sha256": str(manifest.get("suite_sha256")),
        "data.target": str(results.suite.get("target")),
        "data.positive_label": str(results.suite.get("positive_label")),
    }
    for name, info in results.models.items():
        for field in ("recipe", "source", "modality", "hash"):
            if info.get(field) is not None:
                params.update(_flatten(f"model.{name}.{field}", info[field]))
        if isinstance(info.get("params"), dict):
            params.update(_flatten(f"model.{name}.params", info["params"]))
    return params


def gate_records(results: RunResults) -> list[dict[str, Any]]:
    return [gate.model_dump(mode="json") for gate in results.gates]


def resolve_tracking_uri(spec: MlflowSpec | None, override: str | None) -> str:
    """--mlflow URI, else output.mlflow.tracking_uri, else MLFLOW_TRACKING_URI, else ./mlruns."""
    uri = override or (spec.tracking_uri if spec is not None else None) or os.environ.get("MLFLOW_TRACKING_URI")
    return uri or Path("mlruns").resolve().as_uri()


def log_run(run_dir: Path, results: RunResults, spec: MlflowSpec | None = None, *, tracking_uri: str | None = None) -> str:
    """Log the finished run in ``run_dir`` to MLflow; returns the MLflow run id."""
    try:
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient
    except ImportError:
        error = MissingExtra("mlflow-skinny", "mlflow", "Logging to MLflow (--mlflow, output.mlflow)")
        error.args = (f"{error.args[0]} (or: pip install mlflow-skinny)",)
        raise error from None

    run_dir = Path(run_dir)
    uri = resolve_tracking_uri(spec, tracking_uri)
    experiment = (spec.experiment if spec is not None else None) or results.suite.get("name") or "audit"
    run_name = (spec.run_name if spec is not None else None) or results.run_id
    with _file_store_allowed(uri):
        try:
            client = MlflowClient(tracking_uri=uri)
            found = client.get_experiment_by_name(experiment)
            experiment_id = found.experiment_id if found is not None else client.create_experiment(experiment)
            run = client.create_run(experiment_id, run_name=run_name)
        except MlflowException as exc:
            raise MlflowError(f"{run_dir}: the run was written but not logged to MLflow at {uri}: {exc.message}") from None
        run_id = run.info.run_id
        try:
            _log_everything(client, run_id, run_dir, results, Metric, Param, RunTag)
        except Exception as exc:
            client.set_terminated(run_id, status="FAILED")
            message = getattr(exc, "message", None) or f"{exc.__class__.__name__}: {exc}"
            raise MlflowError(f"{run_dir}: the run was written but logging it to MLflow run {run_id} at {uri} failed: {message}") from None
        client.set_terminated(run_id, status="FINISHED")
    return run_id


def is_file_store(uri: str) -> bool:
    """Whether ``uri`` names a local folder (``file://...`` or a plain path), not a server or database."""
    return uri.startswith("file:") or "://" not in uri and not uri.startswith(("databricks", "sqlite:", "postgresql:", "mysql:", "mssql:"))


@contextlib.contextmanager
def _file_store_allowed(uri: str) -> Iterator[None]:
    """MLflow 3 refuses a folder store unless MLFLOW_ALLOW_FILE_STORE is set: a folder the user
    named (or the ./mlruns default) is what they asked for, so allow it for this call only."""
    if not is_file_store(uri) or "MLFLOW_ALLOW_FILE_STORE" in os.environ:
        yield
        return
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        yield
    finally:
        os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)


def _log_everything(client: Any, run_id: str, run_dir: Path, results: RunResults, Metric: Any, Param: Any, RunTag: Any) -> None:
    now = int(time.time() * 1000)
    paths = [m.path for m in results.metrics]
    keys = _unique_keys(paths)
    key_of = {path: key for key, path in keys.items()}
    metrics, nulls = [], 0
    for m in results.metrics:
        if m.value is None or not math.isfinite(m.value):
            nulls += 1
            continue
        key = key_of[m.path]
        metrics.append(Metric(key, float(m.value), now, 0))
        if m.ci is not None and all(v is not None and math.isfinite(v) for v in m.ci):
            metrics += [Metric(f"{key}.ci_low", float(m.ci[0]), now, 0), Metric(f"{key}.ci_high", float(m.ci[1]), now, 0)]
    metrics.append(Metric("audit.null_metrics", float(nulls), now, 0))

    gates = gate_records(results)
    counts = {status: sum(g["status"] == status for g in gates) for status in ("pass", "warn", "fail", "error", "skipped")}
    tags = {
        "audit.status": results.status,
        "audit.exit_code": str(results.exit_code),
        "audit.run_id": results.run_id,
        "audit.run_dir": str(run_dir.resolve()),
        "audit.suite": str(results.suite.get("name", "")),
        **{f"audit.gates.{status}": str(n) for status, n in counts.items()},
    }
    for i, gate in enumerate(gates):
        observed = "" if gate.get("observed") is None else f" (observed {gate['observed']:.6g})"
        tags[f"gate.{i:02d}"] = f"{gate['status']}: {gate['expression']}{observed}"[:MAX_VALUE]
    params = run_params(results)

    for start in range(0, len(metrics), BATCH["metrics"]):
        client.log_batch(run_id, metrics=metrics[start : start + BATCH["metrics"]])
    items = list(params.items())
    for start in range(0, len(items), BATCH["params"]):
        client.log_batch(run_id, params=[Param(k, v) for k, v in items[start : start + BATCH["params"]]])
    tag_items = list(tags.items())
    for start in range(0, len(tag_items), BATCH["tags"]):
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tag_items[start : start + BATCH["tags"]]])

    for name in ARTIFACTS:
        if (run_dir / name).is_file():
            client.log_artifact(run_id, str(run_dir / name))
    with tempfile.TemporaryDirectory(prefix="audit-mlflow-") as tmp:
        (Path(tmp) / "gates.json").write_text(json.dumps({"status": results.status, "exit_code": results.exit_code, "gates": gates}, indent=2))
        (Path(tmp) / "metric_keys.json").write_text(json.dumps(keys, indent=2, sort_keys=True))
        client.log_artifact(run_id, str(Path(tmp) / "gates.json"))
        client.log_artifact(run_id, str(Path(tmp) / "metric_keys.json"))
