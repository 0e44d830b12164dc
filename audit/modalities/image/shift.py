"""``image_shift``: accuracy under MNIST-C-style corruptions at severities 1-5.

The corrupted test sets are built once per run (seeded, shared by every model) and each is
predicted once per model through the prediction cache. Intervals come from one paired bootstrap
over test rows, so the clean accuracy, every corrupted accuracy and their differences are
resampled together. Metric paths: ``<model>/shift/accuracy[gaussian_noise@3]``,
``.../accuracy[gaussian_noise]`` (mean over severities), ``mean_corruption_accuracy``,
``corruption_accuracy_ratio`` (mean corruption accuracy / clean accuracy), ``accuracy_drop``
(clean minus mean corruption accuracy), ``mean_corruption_error`` (1 - mean corruption accuracy:
Hendrycks & Dietterich's mCE without the AlexNet normalisation, which has no analogue here) and
``worst_corruption_accuracy`` (the lowest corruption@severity cell).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field, field_validator

from audit.checks.base import Check, CheckParams, CheckResult
from audit.metrics.binary import bootstrap_indices, percentile_ci
from audit.modalities.image.corruptions import LADDERS, SEVERITIES, UNITS, corrupt
from audit.modalities.image.png import BAD, GOOD, grid, to_rgb, write_png

if TYPE_CHECKING:
    from audit.context import Context
    from audit.data.base import Dataset
    from audit.models.base import ModelAdapter

Corruption = Literal["gaussian_noise", "blur", "rotation", "translation", "contrast", "occlusion"]


class ImageShiftParams(CheckParams):
    corruptions: list[Corruption] = Field(default_factory=lambda: list(LADDERS), min_length=1, description="Corruptions to apply (ladders in audit/modalities/image/corruptions.py).")
    severities: list[int] = Field(default_factory=lambda: list(SEVERITIES), min_length=1, description="Severities 1-5 to measure.")
    bootstrap: int = Field(200, ge=0, le=20_000, description="Bootstrap replicates for the intervals (0: none).")
    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    example: int = Field(0, ge=0, description="Test image shown in the example grid (row position).")

    @field_validator("severities")
    @classmethod
    def _severities(cls, value: list[int]) -> list[int]:
        bad = [s for s in value if s not in SEVERITIES]
        if bad:
            raise ValueError(f"severities must be between 1 and 5; got {bad[0]}")
        return sorted(set(value))

    @field_validator("corruptions")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


def corrupted_sets(ctx: Context, corruptions: list[str], severities: list[int]) -> dict[tuple[str, int], Dataset]:
    """The corrupted test sets, built once per run and shared by every model (unique names)."""
    test = ctx.data.test
    store = ctx.shared.setdefault("image_shift", {})
    out = {}
    for name in corruptions:
        for severity in severities:
            if (name, severity) not in store:
                X = corrupt(test.X, name, severity, ctx.rng("image_shift", name, severity))
                store[(name, severity)] = ctx.derive(test, f"image_shift~{name}@{severity}", X=X)
            out[(name, severity)] = store[(name, severity)]
    return out


class ImageShiftCheck(Check):
    name = "image_shift"  # implementation id (also the key of its seeded RNG streams)
    pillar = "shift"
    Params = ImageShiftParams
    modalities = ("image",)
    metrics = (
        "clean_accuracy", "accuracy", "mean_corruption_accuracy", "mean_corruption_error",
        "corruption_accuracy_ratio", "accuracy_drop", "worst_corruption_accuracy",
    )  # fmt: skip

    def run(self, ctx: Context, model: ModelAdapter) -> CheckResult:
        p: ImageShiftParams = self.params
        result = CheckResult(self.check_name, model.name)
        test = ctx.data.test
        sets = corrupted_sets(ctx, p.corruptions, p.severities)
        keys = list(sets)
        clean_pred = ctx.predict(model, test).pred
        preds = np.stack([ctx.predict(model, sets[k]).pred for k in keys])
        correct = np.vstack([clean_pred == test.y, preds == test.y]).astype(np.float64)  # (1 + V, n)
        point = correct.mean(axis=1)
        boot = None
        if p.bootstrap:
            idx = bootstrap_indices(len(test), p.bootstrap, ctx.rng(self.name, "bootstrap"))
            boot = correct[:, idx].mean(axis=2)  # (1 + V, B)

        def add(metric: str, values: np.ndarray, group: str | None = None, direction: str = "higher") -> float:
            ci = percentile_ci(values[1], p.confidence) if values[1] is not None else None
            result.add(metric, float(values[0]), ci=ci, n=len(test), group=group, direction=direction)
            return float(values[0])

        def stat(fn) -> tuple[np.ndarray, np.ndarray | None]:  # noqa: ANN001 - row-wise statistic
            return fn(point), (fn(boot) if boot is not None else None)

        clean = add("clean_accuracy", stat(lambda a: a[0]))
        rows, series = [], {}
        for c in p.corruptions:
            ys = [clean]
            for s in p.severities:
                j = 1 + keys.index((c, s))
                acc = add("accuracy", stat(lambda a, j=j: a[j]), group=f"{c}@{s}")
                ys.append(acc)
                rows.append({"corruption": c, "severity": s, UNITS[c]: LADDERS[c][s - 1], "accuracy": acc, "drop": clean - acc})
            members = [1 + keys.index((c, s)) for s in p.severities]
            add("accuracy", stat(lambda a, m=members: a[m].mean(axis=0)), group=c)
            series[c] = ([0, *p.severities], ys)
        mean_corr = add("mean_corruption_accuracy", stat(lambda a: a[1:].mean(axis=0)))
        add("mean_corruption_error", stat(lambda a: 1.0 - a[1:].mean(axis=0)), direction="lower")
        add("corruption_accuracy_ratio", stat(lambda a: a[1:].mean(axis=0) / a[0]))
        add("accuracy_drop", stat(lambda a: a[0] - a[1:].mean(axis=0)), direction="lower")
        worst = min(rows, key=lambda r: r["accuracy"])
        result.add("worst_corruption_accuracy", worst["accuracy"], n=len(test), direction="higher")
        result.table("corruptions", rows)
        result.figure("line", title=f"Accuracy under corruption by severity (0 = clean; mean over corruptions {mean_corr:.3f})",
                      series=series, x_label="severity", y_label="accuracy", value_range=(0.0, 1.0))
        self._example_grid(ctx, result, model, sets, clean_pred)
        return result

    def _example_grid(self, ctx: Context, result: CheckResult, model: ModelAdapter, sets: dict[tuple[str, int], Dataset], clean_pred: np.ndarray) -> None:
        p: ImageShiftParams = self.params
        test, labels = ctx.data.test, [str(c) for c in ctx.schema.classes]
        i = min(p.example, len(test) - 1)
        cells, borders = [], []
        for c in p.corruptions:
            row_pred = [clean_pred[i]] + [ctx.predict(model, sets[(c, s)]).pred[i] for s in p.severities]
            cells.append([to_rgb(test.X[i])] + [to_rgb(sets[(c, s)].X[i]) for s in p.severities])
            borders.append([GOOD if k == test.y[i] else BAD for k in row_pred])
        path = write_png(ctx.artefact_dir(model.name, self.check_name) / "corruption_examples.png", grid(cells, borders))
        result.artefacts.append(ctx.relpath(path))
        result.figure(
            "image", path=ctx.relpath(path), title=f"Test image {i} (label {labels[test.y[i]]}) under each corruption",
            caption=f"Rows: {', '.join(p.corruptions)}; columns: clean, then severity {', '.join(map(str, p.severities))}. "
            f"Green border: {model.name} still predicts {labels[test.y[i]]}; vermillion: it does not.",
        )
