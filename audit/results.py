"""Result records, their JSON Schema, and atomic load/save of ``results.json``.

Everything a renderer (HTML, JUnit, console, dashboard) shows comes from these records.
Bump ``SCHEMA_VERSION`` on any incompatible change; readers refuse a newer major version.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from audit.errors import AuditError

SCHEMA_VERSION = "1.1"
# A metric whose ``reason`` starts with this does not apply to the model (a gradient attack on a
# model without gradients): a wildcard gate lists it as skipped rather than as an error.
NOT_APPLICABLE = "not applicable: "
Status = Literal["pass", "warn", "fail", "error"]


class Metric(BaseModel):
    """One measured number. ``path`` is what a gate names: ``model/check/metric[group]``."""

    model_config = ConfigDict(extra="forbid")

    path: str
    value: float | None
    ci: tuple[float, float] | None = None
    n: int | None = None
    direction: Literal["higher", "lower"] | None = None
    model: str
    check: str
    metric: str
    group: str | None = None
    unit: str | None = None
    # why ``value`` is null (zero denominator, sample below the declared minimum, ...)
    reason: str | None = None


class CheckRecord(BaseModel):
    """One check on one model (or on the data): its metrics, tables, figures and fate."""

    model_config = ConfigDict(extra="forbid")

    check: str
    model: str
    # the pillar the check belongs to (performance, fairness, shift, ...); renderers group by it
    pillar: str | None = None
    # the implementation that ran (``Check.name``: e.g. image_shift for the shift pillar on images)
    implementation: str | None = None
    status: Literal["ok", "warn", "error", "skipped"] = "ok"
    duration_s: float = 0.0
    error: str | None = None
    # why a ``skipped`` check did not apply
    reason: str | None = None
    warnings: list[str] = Field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    figures: list[dict[str, Any]] = Field(default_factory=list)
    artefacts: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)


class GateOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expression: str
    metric: str
    on: Literal["value", "ci_low", "ci_high"]
    op: str
    threshold: float
    severity: Literal["fail", "warn"]
    status: Literal["pass", "warn", "fail", "error", "skipped"]
    observed: float | None = None
    message: str = ""
    # where the gate came from when not the suite's own list: a check's default gate
    origin: str | None = None


class RunResults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: str = SCHEMA_VERSION
    run_id: str
    suite: dict[str, Any]
    created_at: str
    status: Status
    exit_code: int
    manifest: dict[str, Any]
    models: dict[str, dict[str, Any]]
    gates: list[GateOutcome]
    checks: list[CheckRecord]
    metrics: list[Metric]

    def metric(self, path: str) -> Metric:
        for record in self.metrics:
            if record.path == path:
                return record
        raise KeyError(path)


def _clean(value: Any) -> Any:
    """JSON cannot hold NaN/inf: write them as null so every reader can parse the file."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


@contextlib.contextmanager
def atomic_writer(path: Path, newline: str | None = None) -> Iterator[Any]:
    """A text handle on a temporary file in ``path``'s folder; on success it is fsynced and renamed
    over ``path``, on any error removed, so ``path`` is never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_writer`)."""
    with atomic_writer(path) as handle:
        handle.write(text)


def save_results(results: RunResults, path: Path) -> None:
    payload = _clean(results.model_dump(mode="json"))
    atomic_write_text(path, json.dumps(payload, indent=1, allow_nan=False) + "\n")


def load_results(path: str | Path) -> RunResults:
    """Read a ``results.json`` (or a run folder holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AuditError(f"{path}: no results.json here") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise AuditError(f"{path}: not a readable results file ({exc})") from None
    return results_from_raw(raw, path)


def results_from_raw(raw: Any, where: Any) -> RunResults:
    """Parsed results.json -> RunResults, refusing other schema versions; errors name ``where``."""
    if not isinstance(raw, dict):
        raise AuditError(f"{where}: not a readable results file (not a JSON object)")
    version = str(raw.get("schema_version", "0"))
    if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise AuditError(f"{where}: schema_version {version} is not supported (this audit reads {SCHEMA_VERSION})")
    try:
        results = RunResults.model_validate(raw)
    except Exception as exc:
        raise AuditError(f"{where}: results do not match schema {SCHEMA_VERSION}: {exc}") from None
    return _with_pillar_names(results) if version in ("1", "1.0") else results


def pillar_of(record: CheckRecord) -> str:
    """The pillar a check record belongs to (runs before schema 1.1 have only the check name)."""
    return record.pillar or record.check


def _with_pillar_names(results: RunResults) -> RunResults:
    """A run written before one-check-per-pillar, renamed: ``image_shift`` -> ``shift`` in records,
    metric paths and gates, so ``audit diff`` and the dashboard compare it with newer runs."""
    from audit.modalities import LEGACY_CHECKS

    def rename(check: str) -> str:
        return LEGACY_CHECKS[check][0] if check in LEGACY_CHECKS else check

    def repath(path: str) -> str:
        parts = path.split("/", 2)
        return "/".join([parts[0], rename(parts[1]), parts[2]]) if len(parts) == 3 else path

    for record in results.checks:
        record.implementation = record.implementation or record.check
        record.check = rename(record.check)
        record.pillar = record.check
    for metric in results.metrics:
        metric.check, metric.path = rename(metric.check), repath(metric.path)
    for gate in results.gates:
        old = gate.metric
        gate.metric = repath(old)
        gate.expression = gate.expression.replace(old, gate.metric)
    return results


def json_schema() -> dict[str, Any]:
    return RunResults.model_json_schema()
