"""The check contract.

A check has a registered ``name``, a strict ``Params`` model, the modalities it supports, and
``run(ctx, model)`` which returns a ``CheckResult`` of numbers, tables and figure specs. It
never renders and never trains the suite's models; it reads predictions from ``ctx.predict``
so each model scores each dataset once per run. Construction stores parameters only.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from audit.results import CheckRecord, Metric

if TYPE_CHECKING:
    from audit.data.base import Dataset
    from audit.engine import Context
    from audit.models.base import ModelAdapter


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
    ) -> Metric:
        value = _finite(value)
        if ci is not None:
            lo, hi = _finite(ci[0]), _finite(ci[1])
            ci = (lo, hi) if lo is not None and hi is not None else None
        path = f"{self.model}/{self.check}/{metric}" + (f"[{group}]" if group else "")
        record = Metric(path=path, value=value, ci=ci, n=n, direction=direction, model=self.model, check=self.check, metric=metric, group=group)
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


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class Check:
    """Base class. ``scope='data'`` checks run once per run with ``model=None``."""

    name: ClassVar[str]
    Params: ClassVar[type[CheckParams]] = CheckParams
    scope: ClassVar[Literal["model", "data"]] = "model"
    modalities: ClassVar[tuple[str, ...]] = ("tabular",)
    # Every metric name ``run`` can add (the ``<metric>`` of ``<model>/<check>/<metric>[<group>]``),
    # so suite validation can refuse a gate that names none of them before anything runs.
    # None: not declared, the gate's metric is then judged only at run time.
    metrics: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, params: CheckParams) -> None:
        self.params = params

    def supports(self, model: ModelAdapter | None) -> str | None:
        """None when the check can run on ``model``; otherwise the reason it is skipped."""
        if model is not None and model.modality not in self.modalities:
            return f"'{self.name}' does not support {model.modality} models"
        return None

    def run(self, ctx: Context, model: ModelAdapter | None) -> CheckResult:
        raise NotImplementedError



def seeded_sample(ctx: Context, dataset: Dataset, n: int, owner: str) -> Dataset:
    """At most ``n`` rows of ``dataset``, drawn by ``owner``'s seeded RNG, in row order.

    The subset gets a name of its own so the prediction cache holds it once per run.
    """
    import numpy as np

    rows = np.sort(ctx.rng(owner, "sample").choice(len(dataset), size=min(n, len(dataset)), replace=False))
    return dataset.subset(rows, f"{dataset.name}~{owner}~sample{len(rows)}")
