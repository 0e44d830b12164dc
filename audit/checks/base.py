"""The check contract.

A check has a registered ``name``, a strict ``Params`` model, the modalities it supports, and
``run(ctx, model)`` which returns a ``CheckResult`` of numbers, tables and figure specs. It
never renders and never trains the suite's models; it reads predictions from ``ctx.predict``
so each model scores each dataset once per run. Construction stores parameters only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from audit.results import CheckRecord, Metric

if TYPE_CHECKING:
    from audit.context import Context
    from audit.data.base import Dataset
    from audit.models.base import ModelAdapter


@dataclass(frozen=True)
class MetricSpec:
    """What a check declares about one metric it reports.

    ``min_n``: the smallest sample (the metric's ``n``) the statistic needs; below it the engine
    replaces the value with null, says why, and a gate on it errors with that reason (a p99 from
    5 timed calls is not a p99). ``direction``: which way is better; ``unit``: for readers.
    """

    name: str
    direction: Literal["higher", "lower"] | None = None
    unit: str | None = None
    min_n: int | None = None


def metric_specs(check: type[Check] | Check) -> dict[str, MetricSpec]:
    """The declared metrics of a check class as ``{name: MetricSpec}`` (plain names get defaults)."""
    return {(m.name if isinstance(m, MetricSpec) else m): (m if isinstance(m, MetricSpec) else MetricSpec(m)) for m in (check.metrics or ())}


def apply_declarations(result: CheckResult, check: type[Check] | Check) -> None:
    """Fill each metric's declared direction and unit, and null the ones below their ``min_n``.

    The engine calls this on every result, so a check cannot report a p99 from 5 calls: the value
    and interval become null, ``reason`` says why, the check warns, and a gate on it errors.
    """
    specs = metric_specs(check)
    for m in result.metrics:
        spec = specs.get(m.metric)
        if spec is None:
            continue
        if m.direction is None and spec.direction is not None:
            m.direction = spec.direction
        if m.unit is None and spec.unit is not None:
            m.unit = spec.unit
        if spec.min_n is not None and m.value is not None and (m.n is None or m.n < spec.min_n):
            have = "no sample size" if m.n is None else f"n={m.n}"
            m.reason = f"needs at least {spec.min_n} observations ({have})"
            m.value, m.ci = None, None
            result.warn(f"{m.path} is undefined: it {m.reason}")


class CheckParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckResult:
    """Collects what one check measured on one model; the engine turns it into records."""

    def __init__(self, check: str, model: str) -> None:
        self.check = check
        self.model = model
        self.metrics: list[Metric] = []
        self.tables: dict[str, list[dict[str, Any]]] = {}
        self.figures: list[dict[str, Any]] = []
        self.warnings: list[str] = []
        self.artefacts: list[str] = []

    def add(
        self,
        metric: str,
        value: float | None,
        *,
        ci: tuple[float, float] | None = None,
        n: int | None = None,
        group: str | None = None,
        direction: Literal["higher", "lower"] | None = None,
        reason: str | None = None,
        unit: str | None = None,
    ) -> Metric:
        """Record one number; a null ``value`` should come with the ``reason`` it is undefined."""
        value = _finite(value)
        if ci is not None:
            lo, hi = _finite(ci[0]), _finite(ci[1])
            ci = (lo, hi) if lo is not None and hi is not None else None
        path = f"{self.model}/{self.check}/{metric}" + (f"[{group}]" if group else "")
        record = Metric(path=path, value=value, ci=ci, n=n, direction=direction, model=self.model, check=self.check, metric=metric, group=group, unit=unit, reason=reason if value is None else None)
        self.metrics.append(record)
        return record

    def table(self, name: str, rows: list[dict[str, Any]]) -> None:
        self.tables[name] = rows

    def figure(self, kind: str, **spec: Any) -> None:
        """A chart spec the renderers draw (kinds: bar, grouped_bar, line, heatmap, image)."""
        self.figures.append({"kind": kind, **spec})

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def record(self, duration: float, params: dict[str, Any]) -> CheckRecord:
        return CheckRecord(
            check=self.check,
            model=self.model,
            status="warn" if self.warnings else "ok",
            duration_s=round(duration, 4),
            warnings=self.warnings,
            tables=self.tables,
            figures=self.figures,
            artefacts=self.artefacts,
            params=params,
        )


def json_cell(value: Any) -> Any:
    """A JSON-safe table cell: NumPy scalars as Python values, NaN and infinities as None."""
    if hasattr(value, "item") and type(value).__module__ == "numpy":
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class Check:
    """Base class. ``scope='data'`` checks run once per run with ``model=None``.

    ``name`` identifies the implementation (and keys its seeded RNG streams, so a run's numbers do
    not depend on what the check is called in the suite); ``pillar`` is what it audits
    (performance, fairness, shift, drift, robustness, explain, latency, ...). Results and metric
    paths carry ``check_name``: the name the suite ran it under, the pillar for built-in checks.
    """

    name: ClassVar[str]
    pillar: ClassVar[str | None] = None  # None: the check is its own pillar (``name``)
    Params: ClassVar[type[CheckParams]] = CheckParams
    scope: ClassVar[Literal["model", "data"]] = "model"
    modalities: ClassVar[tuple[str, ...]] = ("tabular",)
    # Every metric name ``run`` can add (the ``<metric>`` of ``<model>/<check>/<metric>[<group>]``),
    # so suite validation can refuse a gate that names none of them before anything runs.
    # None: not declared, the gate's metric is then judged only at run time. A MetricSpec adds
    # direction, unit and the minimum sample the engine enforces (see ``metric_specs``).
    metrics: ClassVar[tuple[str | MetricSpec, ...] | None] = None
    # The targets the check can audit; a binary-only check on a multiclass target is refused
    # after the data is read and before any model is trained (``audit.data.references``).
    targets: ClassVar[tuple[Literal["binary", "multiclass"], ...]] = ("binary", "multiclass")
    # What the check needs beyond the test rows' predictions; the engine skips it, saying why,
    # when the run lacks one (``requirement_reason``):
    #   "scoring"    - to score inputs of its own (perturbed rows, timed calls, gradients); a
    #                  predictions-only model can only give its scores on the test rows
    #   "train"      - the rows the model was trained on (membership inference)
    #   "background" - reference rows: the reference file, else the training rows (drift
    #                  baseline, explainer background)
    # A check that only reads ``ctx.predict(model, ctx.data.test)`` declares ``()``.
    requires: ClassVar[tuple[Literal["scoring", "train", "background"], ...]] = ("scoring",)

    def __init__(self, params: CheckParams, check_name: str | None = None) -> None:
        self.params = params
        self.check_name = check_name or self.pillar_name()

    @classmethod
    def pillar_name(cls) -> str:
        return cls.pillar or cls.name

    def supports(self, model: ModelAdapter | None) -> str | None:
        """None when the check can run on ``model``; otherwise the reason it is skipped."""
        if model is not None and model.modality not in self.modalities:
            return f"'{self.check_name}' does not support {model.modality} models"
        return None

    def requirement_reason(self, model: ModelAdapter | None, data: Any) -> str | None:
        """Why the run cannot give this check what ``requires`` names (None when it can)."""
        if "scoring" in self.requires and model is not None and not getattr(model, "can_score", True):
            return f"model '{model.name}' is predictions-only: '{self.check_name}' must score inputs of its own"
        if "train" in self.requires and len(data.train) == 0:
            return f"no training rows (evaluation-only run): '{self.check_name}' needs the rows the model was trained on"
        if "background" in self.requires and data.background is None:
            return f"no reference or training rows: '{self.check_name}' needs reference data (set data.reference)"
        return None

    def run(self, ctx: Context, model: ModelAdapter | None) -> CheckResult:
        raise NotImplementedError



def seeded_sample(ctx: Context, dataset: Dataset, n: int, owner: str) -> Dataset:
    """At most ``n`` rows of ``dataset``, drawn by ``owner``'s seeded RNG, in row order.

    The subset gets a name of its own so the prediction cache holds it once per run.
    """
    import numpy as np

    rows = np.sort(ctx.rng(owner, "sample").choice(len(dataset), size=min(n, len(dataset)), replace=False))
    return ctx.derive(dataset, f"{owner}~sample{len(rows)}", rows=rows)
