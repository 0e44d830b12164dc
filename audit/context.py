"""What a check sees while it runs: data, models, the shared prediction cache, seeded RNGs, a folder.

The context sits below the checks and above the data and model adapters: checks import it (for
typing) and never import the engine or the model builders. Predictions are cached by model and
by the *content* of the dataset (its features and labels), so two derived datasets that share a
name by accident (two entries of one check with different parameters) never share predictions,
while the same rows scored twice by different checks are scored once. Retraining a model on
other rows (shift scenarios) also goes through the context.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from audit.data.base import DataBundle, Dataset
    from audit.models.base import ModelAdapter
    from audit.suite import Suite


@dataclass
class Predictions:
    proba: np.ndarray

    @property
    def pred(self) -> np.ndarray:
        return self.proba.argmax(axis=1)

    @property
    def score(self) -> np.ndarray:
        """Probability of the positive class (binary tasks: class code 1)."""
        return self.proba[:, 1] if self.proba.shape[1] == 2 else self.proba.max(axis=1)


def content_key(dataset: Dataset) -> str:
    """A digest of the dataset's features and labels, computed once per dataset object."""
    key = getattr(dataset, "_content_key", None)
    if key is None:
        key = dataset.fingerprint()
        object.__setattr__(dataset, "_content_key", key)
    return key


def keyed_rng(seed: int, *keys: Any) -> np.random.Generator:
    """``Context.rng`` without a context: what a shard shipped to another process seeds itself with
    (``keyed_rng(ctx.seed, *keys)`` is ``ctx.rng(*keys)``)."""
    digest = hashlib.sha256(repr(keys).encode()).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


class Context:
    """What a check sees: data, models, the shared prediction cache, seeded RNGs, a folder."""

    def __init__(self, suite: Suite, data: DataBundle, models: dict[str, ModelAdapter], seed: int, run_dir: Path, log: Callable[[str], None]) -> None:
        self.suite = suite
        self.data = data
        self.models = models
        self.seed = seed
        self.run_dir = run_dir
        self.log = log
        self.shared: dict[Any, Any] = {}
        self._predictions: dict[tuple[str, str, str], tuple[Dataset, Predictions]] = {}
        self.predict_calls = 0
        # set by the execution backend (audit.execution) to run ``map``'s items elsewhere
        self._map: Callable[[Callable[[Any], Any], Sequence[Any], str], list[Any]] | None = None

    @property
    def schema(self):  # noqa: ANN201 - Schema, kept light for readers
        return self.data.schema

    def predict(self, model: ModelAdapter, dataset: Dataset) -> Predictions:
        """The model's probabilities on a dataset, computed once per (model, dataset content)."""
        key = (model.name, dataset.name, content_key(dataset))
        if key not in self._predictions:
            self.predict_calls += 1
            scorer = getattr(model, "predict_dataset", None)  # ModelAdapter's; duck-typed models score X
            proba = scorer(dataset) if scorer is not None else model.predict_proba(dataset.X)
            self._predictions[key] = (dataset, Predictions(np.asarray(proba, dtype=np.float64)))
        return self._predictions[key][1]

    def cached_predictions(self) -> dict[tuple[str, str], Predictions]:
        """(model, dataset name) -> predictions made so far (for tests and diagnostics)."""
        return {(m, name): pred for (m, name, _), (_, pred) in self._predictions.items()}

    def derive(self, dataset: Dataset, label: str, *, rows: np.ndarray | None = None, X: Any = None) -> Dataset:
        """A dataset derived from ``dataset`` (a row subset and/or new features), named by
        ``label`` and a digest of its content, so equal names always mean equal rows."""
        derived = dataset.subset(rows, dataset.name) if rows is not None else dataset
        derived = derived.with_features(X if X is not None else derived.X, dataset.name)  # a new object
        derived.name = f"{dataset.name}~{label}#{content_key(derived)[:10]}"
        return derived

    def retrain_refusal(self, model: ModelAdapter) -> str | None:
        """Why ``model`` cannot be retrained on other rows (None when it can, or when the
        context has no suite to say: ``retrain`` then decides)."""
        if self.suite is None:
            return None
        specs = [m.name for m in self.suite.models]
        if model.name not in specs:
            return f"model '{model.name}' is not declared in the suite, so its recipe is unknown"
        spec = self.suite.models[specs.index(model.name)]
        if spec.recipe is None or spec.load is not None:
            source = f"loaded from a file ({spec.load.source})" if spec.load is not None else ("predictions-only" if spec.predictions is not None else "handed over in memory")
            return f"model '{model.name}' is {source}; without its training recipe it cannot be retrained"
        if len(self.data.train) == 0:
            return "the run has no training rows (evaluation-only)"
        return None

    def retrain(self, model: ModelAdapter, rows: np.ndarray, label: str, overrides: dict[str, dict] | None = None) -> tuple[ModelAdapter | None, str]:
        """``model``'s recipe fitted on the train rows ``rows``; (None, reason) when impossible.

        The retrained model uses the suite's recipe, validated parameters and seed, and the
        content-addressed artefact cache like any suite model. ``overrides`` maps a recipe name
        to parameters replacing the suite's for this retraining (e.g. a smaller budget).
        """
        from audit.models.build import build_model

        refusal = self.retrain_refusal(model)
        if refusal is not None:
            return None, refusal
        specs = [m.name for m in self.suite.models]
        index = specs.index(model.name)
        spec = self.suite.models[index]
        train = self.data.train.subset(rows, f"train~shift.{label}")
        bundle = dataclasses.replace(self.data, train=train)
        params = {**spec.params, **(overrides or {}).get(spec.recipe, {})}
        derived = spec.model_copy(update={"name": f"{model.name}~{label}", "params": params})
        adapter, _info = build_model(derived, index, self.suite, bundle, self.seed)
        return adapter, ""

    def progress(self, who: str, what: str, every: float = 0.1, min_seconds: float = 1.0) -> Callable[[int, int], None]:
        """A ``progress(done, total)`` callback for a long loop inside a check: a ``ctx.log`` line
        (``<who> · <what> <done>/<total> (<share>), <elapsed>s, ETA <s>``) about every ``every``
        of the way, and at the end; nothing before ``min_seconds`` have passed, so short loops
        stay quiet. When the log offers a bar (``log.progress(who, what)``: the CLI's log on a
        terminal, audit/commands/progress.py), every call updates that bar instead of writing lines."""
        log = getattr(self, "log", None) or (lambda message: None)
        factory = getattr(log, "progress", None)
        bar = factory(who, what) if callable(factory) else None
        start, shown = time.perf_counter(), [0.0]

        def report(done: int, total: int, detail: str = "") -> None:
            fraction = done / total if total else 1.0
            elapsed = time.perf_counter() - start
            if elapsed < min_seconds and not (bar is not None and shown[0] > 0):
                return
            eta = elapsed / fraction * (1 - fraction) if fraction > 0 else float("nan")
            if bar is not None:
                shown[0] = max(fraction, 1e-9)  # a bar once shown is updated (and closed) to the end
                bar(done, total, detail, elapsed, eta)
                return
            if fraction < 1.0 and fraction - shown[0] < every:
                return
            shown[0] = fraction
            log(f"        {who} · {what} {done}/{total}{f' ({detail})' if detail else ''} ({fraction:.0%}), {elapsed:.1f}s, ETA {eta:.1f}s")

        return report

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], *, label: str = "") -> list[Any]:
        """``[fn(item) for item in items]``: shard-keyed work a check can hand to the backend.

        Locally the items run in order in this process; with ``execution: {backend: ray}`` the
        engine replaces this with Ray tasks. ``fn`` must be picklable and depend only on its
        item: draw randomness from a generator seeded by the item's own key (``ctx.rng(...,
        shard)``), never from a generator shared across items, so both backends give the same
        numbers. ``label`` names the work in progress lines.
        """
        runner = getattr(self, "_map", None)
        if runner is not None:
            return runner(fn, items, label)
        return [fn(item) for item in items]

    def rng(self, *keys: Any) -> np.random.Generator:
        """A generator seeded by the run seed and ``keys``, independent of call order."""
        return keyed_rng(self.seed, *keys)

    def artefact_dir(self, model: str, check: str) -> Path:
        folder = self.run_dir / "artefacts" / model / check
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def relpath(self, path: Path) -> str:
        return path.relative_to(self.run_dir).as_posix()
