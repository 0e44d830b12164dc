"""The what-if explorer's data: a run's model and test rows, reloaded safely and verified.

Where the rows come from: ``predictions.csv`` holds only row ids and scores, so the feature
values are rebuilt from the run's own suite file (``manifest.suite_file``) with the run's seed,
and accepted only when the data hash equals ``manifest.data_sha256``. The model is the cached
artefact named in ``results.models[name]`` (``recipe``, ``params``, ``hash``, ``artefact``),
loaded through the recipe's skops/safetensors loader, never trained here; a model the suite
loaded from a file goes through the same safe loader as ``audit run``. Those paths come from
``results.json``, which anyone able to write the reports folder can edit, so each one passes
``audit.dashboard.trust.PathGate`` first: it must lie inside the run's own folder, or the visitor
must have confirmed that exact path (``trusted_paths``). Before anything is shown,
the reloaded model must reproduce the scores in ``predictions.csv``, so a cleared or replaced
cache can never pass for the audited model. When any of this fails, ``WhatIfUnavailable`` says
why, and the app falls back to the saved explanations (``local_shap.json``).

Re-scoring and explaining live here, not in the page: ``WhatIf.edit`` builds the edited row,
``WhatIf.score`` is the model's positive-class probability, and ``WhatIf.explain`` runs the
explain pillar's own SHAP (``audit.explain.shap_tab.explain_rows``: the explainer the model's
kind calls for) with the explain check's inputs: all training rows, the check's
``background_size`` as recorded in results.json, and the run's SHAP generator (``shap_rng``).
So an unedited row gets exactly the values the check stored in ``local_shap.json``, in the same
output space (log-odds, probability or margin: ``RowExplanation.output_space``).
``WhatIf.decision`` is the model's own decision for a score (an argmax: positive above 0.5), and
``WhatIf.counterfactual`` the smallest change of mutable features found that flips it
(``audit.dashboard.counterfactual``).
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audit.dashboard.counterfactual import THRESHOLD, Counterfactual, decide
from audit.dashboard.safefiles import PathOutsideRoot, default_root, read_run_bytes
from audit.dashboard.trust import NeedsConfirmation, PathGate, WhatIfUnavailable, gate_suite_files
from audit.errors import AuditError
from audit.explain.shap_tab import explain_rows, shap_rng
from audit.results import RunResults

__all__ = [
    "NeedsConfirmation",
    "RowExplanation",
    "WhatIf",
    "WhatIfUnavailable",
    "open_whatif",
    "saved_local_shap",
    "stored_scores",
]

SCORE_TOLERANCE = 1e-6
EXPLAIN_CHECK = "explain"  # the check whose local_shap.json the what-if reproduces


@dataclass
class RowExplanation:
    """SHAP values of one row per original feature, as the explain check computes them.

    ``values`` sum to ``output - base`` (up to the explainer's additivity error), all in
    ``output_space``; ``score`` is the positive-class probability whatever that space is.
    """

    features: list[str]
    values: np.ndarray
    base: float
    output: float
    score: float
    output_space: str  # "log-odds", "probability" or "margin"
    explainer: str
    background: str
    notes: list[str] = field(default_factory=list)

    def frame(self) -> pd.DataFrame:
        return (
            pd.DataFrame({"feature": self.features, "shap": self.values})
            .sort_values("shap", key=np.abs, ascending=False, kind="stable")
            .reset_index(drop=True)
        )


@dataclass
class WhatIf:
    """A verified model plus the run's test rows, ready to score and explain edited rows."""

    model: Any
    features: list[str]
    numeric: list[str]
    categories: dict[str, list[str]]
    rows: pd.DataFrame  # test rows, index = row id as text
    labels: pd.Series  # actual class per row id
    train: pd.DataFrame  # the explain check's background rows: the run's reference rows, else its training rows
    background_size: int  # the explain check's ``background_size`` in this run
    shap_rng: Callable[[], np.random.Generator]  # a fresh copy of the run's SHAP generator per call
    positive: str
    seed: int
    notes: list[str] = field(default_factory=list)
    permutations: int | None = None  # the explain check's ``permutations`` (permutation SHAP only)
    negative: str = "negative"  # the other class of the binary target
    immutable: list[str] = field(default_factory=list)  # features a counterfactual search leaves alone by default
    threshold: float = THRESHOLD  # the model picks the more probable class: positive when its score > 0.5

    def decision(self, score: float) -> str:
        """The class the model decides for a positive-class score (its ``predict``: an argmax)."""
        return self.positive if decide(score, self.threshold) else self.negative

    def score(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of the positive class (the ``score`` column of predictions.csv)."""
        return np.asarray(self.model.predict_proba(X[self.features]), dtype=np.float64)[:, -1]

    def row(self, row_id: str) -> pd.DataFrame:
        return self.rows.loc[[row_id], self.features].reset_index(drop=True)

    def edit(self, row_id: str, values: Mapping[str, Any]) -> tuple[pd.DataFrame, list[str]]:
        """Row ``row_id`` with ``values`` (feature -> new value; None or NaN: missing) put in,
        and the features whose value changed. An integer column taking a fraction turns float."""
        original = self.row(row_id)
        edited = original.copy()
        changed = []
        for feature, value in values.items():
            if feature not in self.features:
                raise KeyError(f"'{feature}' is not a feature of this model")
            if value is None or (isinstance(value, float) and np.isnan(value)):
                value = np.nan
            if (
                feature in self.numeric
                and pd.api.types.is_integer_dtype(edited[feature].dtype)
                and not float(value).is_integer()
            ):
                edited[feature] = edited[feature].astype(np.float64)
            if not _same(original[feature].iloc[0], value):
                changed.append(feature)
            edited.loc[0, feature] = value
        return edited, changed

    def counterfactual(self, row_id: str, mutable: Collection[str], *, total: int = 12) -> Counterfactual:
        """The smallest change of ``mutable`` features found that flips the decision on row ``row_id``
        (``audit.dashboard.counterfactual.search``, seeded with the run's seed; raises ``NoCounterfactual``)."""
        from audit.dashboard.counterfactual import search

        return search(
            self.score,
            self.row(row_id),
            self.train,
            numeric=self.numeric,
            mutable=list(mutable),
            total=total,
            seed=self.seed,
        )

    def explain(self, row: pd.DataFrame) -> RowExplanation:
        """SHAP values of the one-row frame ``row``, by the explain check's own method and inputs."""
        if len(row) != 1:
            raise ValueError(f"explain one row at a time; got {len(row)} rows")
        X = row[self.features].reset_index(drop=True)
        score = self.score(X)
        shap = explain_rows(
            self.model,
            self.train,
            X,
            rng=self.shap_rng(),
            background_size=self.background_size,
            p_pos=score,
            permutations=self.permutations,
        )
        features, per_feature = shap.by_feature(self.features)
        return RowExplanation(
            features=features,
            values=per_feature[0],
            base=float(shap.base_values[0]),
            output=float(shap.output[0]),
            score=float(score[0]),
            output_space=shap.output_space,
            explainer=shap.explainer,
            background=shap.background,
            notes=list(shap.notes),
        )


def _same(a: Any, b: Any) -> bool:
    """Equal values, NaN equal to NaN, 3 equal to 3.0."""
    missing_a, missing_b = (x is None or (isinstance(x, (float, np.floating)) and np.isnan(x)) for x in (a, b))
    if missing_a or missing_b:
        return missing_a and missing_b
    try:
        return bool(a == b) or (
            isinstance(a, (int, float, np.number)) and isinstance(b, (int, float, np.number)) and float(a) == float(b)
        )
    except (TypeError, ValueError):
        return False


def stored_scores(
    run_dir: Path, model: str, dataset: str = "test", root: Path | None = None
) -> dict[str, float] | None:
    """Row id (as text) -> stored score from ``predictions.csv``; None when absent or refused."""
    try:
        data = read_run_bytes(default_root(run_dir) if root is None else root, run_dir, "predictions.csv")
    except PathOutsideRoot:
        return None
    if data is None:
        return None
    frame = pd.read_csv(io.BytesIO(data), dtype={"row_id": str})
    frame = frame[(frame["model"].astype(str) == model) & (frame["dataset"].astype(str) == dataset)]
    return dict(zip(frame["row_id"].astype(str), frame["score"].astype(float), strict=True))


def open_whatif(
    results: RunResults,
    run_dir: Path,
    model_name: str,
    *,
    root: Path | None = None,
    trusted_paths: Collection[str] = (),
) -> WhatIf:
    """Reload data and model for ``model_name`` of a finished run, verified against the run.

    ``root`` is the reports folder (default: two levels above ``run_dir``). A suite or model
    path that the run names outside ``run_dir`` is loaded only when it is in ``trusted_paths``
    (exact texts the visitor confirmed); otherwise ``NeedsConfirmation`` lists what to confirm.
    """
    gate = PathGate(default_root(run_dir) if root is None else root, run_dir, trusted_paths)
    info = results.models.get(model_name)
    if info is None:
        raise WhatIfUnavailable(f"the run has no model '{model_name}'")
    if info.get("modality", "tabular") != "tabular":
        raise WhatIfUnavailable(
            f"editing feature values needs a tabular model; '{model_name}' works on {info.get('modality')} data"
        )
    suite_file, artefact = _gate_run_paths(results, info, model_name, gate)
    confirmed = gate.is_confirmed(str(results.manifest["suite_file"]))  # else it lies in the run folder
    suite, bundle, seed = _rebuild_data(results, suite_file, None if confirmed else gate, model_name)
    if len(bundle.schema.classes) != 2:
        raise WhatIfUnavailable("the what-if explains the positive-class score of binary targets only")
    model = _load_model(info, model_name, suite, bundle, seed, artefact)
    background_size, permutations, explain_note = _explain_inputs(results, model_name)
    test = bundle.test
    ids = [str(i) for i in test.ids]
    rows = test.X.copy()
    rows.index = pd.Index(ids, name="row_id")
    what = WhatIf(
        model=model,
        features=list(bundle.schema.features),
        numeric=list(bundle.schema.numeric),
        categories={
            c: sorted({str(v) for v in pd.concat([bundle.train.X[c], bundle.test.X[c]]).dropna().unique()})
            for c in bundle.schema.categorical
        },
        rows=rows,
        labels=pd.Series([str(bundle.schema.classes[k]) for k in test.y], index=rows.index),
        train=(bundle.background or bundle.test).X,  # the explain check's background: reference rows, else train
        background_size=background_size,
        permutations=permutations,
        shap_rng=functools.partial(shap_rng, _run_rng(suite, bundle, {model_name: model}, seed, run_dir), model_name),
        positive=str(bundle.schema.positive_label),
        negative=str(bundle.schema.classes[0]),
        immutable=immutable_features(results, model_name, list(bundle.schema.features)),
        seed=seed,
    )
    if explain_note:
        what.notes.append(explain_note)
    _verify_scores(what, run_dir, model_name, gate.root)
    return what


def immutable_features(results: RunResults, model_name: str, features: list[str]) -> list[str]:
    """Features a counterfactual should not change: the robustness check's ``immutable`` list for
    this model, and the suite's sensitive attributes that are model features (as recorded in the run)."""
    record = next((c for c in results.checks if c.check == "robustness" and c.model == model_name), None)
    listed = list((record.params or {}).get("immutable") or []) if record is not None else []
    sensitive = list(results.suite.get("sensitive") or [])
    return [f for f in features if f in set(listed) | set(sensitive)]


def _run_rng(
    suite: Any, bundle: Any, models: dict[str, Any], seed: int, run_dir: Path
) -> Callable[..., np.random.Generator]:
    """``Context.rng`` of the run: the seeded generators its checks drew from (nothing is written)."""
    from audit.context import Context

    return Context(suite, bundle, models, seed, run_dir, log=lambda _message: None).rng


def _explain_inputs(results: RunResults, model_name: str) -> tuple[int, int | None, str | None]:
    """The explain check's ``background_size`` for this model, as results.json records it.

    Without an explain check in the run, the check's default is used and a note says so.
    """
    from pydantic import ValidationError

    from audit.checks.explain import ExplainParams

    record = next((c for c in results.checks if c.check == EXPLAIN_CHECK and c.model == model_name), None)
    if record is None:
        return (
            ExplainParams().background_size,
            None,
            "the run has no explain check for this model, so its SHAP values use the check's default background size",
        )
    try:
        params = ExplainParams.model_validate(record.params)
    except ValidationError:
        raise WhatIfUnavailable(f"results.json records invalid explain parameters for '{model_name}'") from None
    return params.background_size, params.permutations, None


def _gate_run_paths(results: RunResults, info: dict[str, Any], name: str, gate: PathGate) -> tuple[Path, Path | None]:
    """The suite file and (for recipe models) artefact folder named in results.json, once allowed."""
    source = results.manifest.get("suite_file")
    if not source:
        raise WhatIfUnavailable(
            "the suite file that produced this run (not recorded) is not on this machine, so its test rows cannot be rebuilt"
        )
    suite_file = gate.allow(str(source), "suite file")
    artefact = None
    if not info.get("load"):
        if not info.get("recipe") or not info.get("artefact"):
            raise WhatIfUnavailable(f"results.json does not record where model '{name}' is cached")
        artefact = gate.allow(str(info["artefact"]), "model artefact folder", folder=True)
    gate.check()
    assert suite_file is not None  # gate.check() raised otherwise
    return suite_file, artefact


def _rebuild_data(results: RunResults, source: Path, gate: PathGate | None, model: str) -> tuple[Any, Any, int]:
    """The suite and its data bundle; ``gate`` checks the files an unconfirmed suite names first."""
    from audit.data.tabular import build_bundle
    from audit.suite import load_suite

    manifest = results.manifest
    if not source.is_file():
        raise WhatIfUnavailable(
            f"the suite file that produced this run ({source}) is not on this machine, so its test rows cannot be rebuilt"
        )
    try:
        suite = load_suite(source)
        if gate is not None:  # a suite found in the run folder: the files it names pass the gate too
            gate_suite_files(suite, gate, model)
            gate.check()
        seed = int(manifest.get("seed", suite.seed))
        if seed != suite.seed:
            copy = suite.model_copy(update={"seed": seed})
            copy._source = suite.source
            suite = copy
        bundle = build_bundle(suite)
    except AuditError as exc:
        raise WhatIfUnavailable(f"the run's data cannot be rebuilt: {exc}") from None
    if manifest.get("data_sha256") and bundle.data_hash != manifest["data_sha256"]:
        raise WhatIfUnavailable(
            f"the data behind {source} changed since this run (sha256 {bundle.data_hash[:12]}… ≠ {str(manifest['data_sha256'])[:12]}…)"
        )
    return suite, bundle, seed


def _load_model(info: dict[str, Any], name: str, suite: Any, bundle: Any, seed: int, folder: Path | None) -> Any:
    from audit.registry import RECIPES

    try:
        if info.get("load"):
            from audit.models.build import build_model

            index, spec = next(((i, s) for i, s in enumerate(suite.models) if s.name == name), (None, None))
            if spec is None or spec.load is None:
                raise WhatIfUnavailable(f"the suite file no longer declares model '{name}' as loaded from a file")
            model, loaded = build_model(spec, index, suite, bundle, seed)
            if info.get("hash") and loaded.get("hash") != info["hash"]:
                raise WhatIfUnavailable(f"the model file of '{name}' changed since this run")
            return model
        recipe_name, digest = str(info.get("recipe")), str(info.get("hash", ""))
        if folder is None:
            raise WhatIfUnavailable(f"results.json does not record where model '{name}' is cached")
        if folder.name != f"{recipe_name}-{digest[:20]}":
            raise WhatIfUnavailable(f"the artefact folder of '{name}' does not match its recorded hash")
        if not (folder.exists() or folder.is_symlink()):
            raise WhatIfUnavailable(
                f"the cached artefact of '{name}' ({folder}) is gone (cache cleared?); re-run the suite to rebuild it"
            )
        from audit.models.cache import load_entry

        recipe_cls = RECIPES.get(recipe_name)
        recipe = recipe_cls(recipe_cls.Params.model_validate(info.get("params") or {}), seed)
        # the cache's sealed manifest is verified first, as in ``audit run``
        return load_entry(folder, digest, recipe_name, lambda f: recipe.load(name, f, bundle.schema))
    except AuditError as exc:
        raise WhatIfUnavailable(f"model '{name}' cannot be loaded safely: {exc}") from None


def _verify_scores(what: WhatIf, run_dir: Path, name: str, root: Path) -> None:
    stored = stored_scores(run_dir, name, root=root)
    if not stored:
        what.notes.append(
            "predictions.csv is absent, so the reloaded model could not be checked against the run's scores"
        )
        return
    ids = [i for i in what.rows.index if i in stored]
    if not ids:
        raise WhatIfUnavailable("predictions.csv holds none of the rebuilt test rows")
    gap = float(np.max(np.abs(what.score(what.rows.loc[ids]) - np.array([stored[i] for i in ids]))))
    if gap > SCORE_TOLERANCE:
        raise WhatIfUnavailable(
            f"the reloaded model does not reproduce the run's scores (largest difference {gap:.3g}); what-if is off so no other model is shown as the audited one"
        )
    what.notes.append(f"reloaded model reproduces the run's {len(ids)} test scores (largest difference {gap:.1e})")


def saved_local_shap(run_dir: Path, model: str, root: Path | None = None) -> dict[str, Any] | None:
    """``artefacts/<model>/explain/local_shap.json`` as written by the explain check, or None."""
    try:
        data = read_run_bytes(
            default_root(run_dir) if root is None else root, run_dir, f"artefacts/{model}/explain/local_shap.json"
        )
    except PathOutsideRoot:
        return None
    if data is None:
        return None
    try:
        payload = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("rows"), list):
        return None
    payload["rows"] = [r for r in payload["rows"] if isinstance(r, dict) and isinstance(r.get("shap"), dict)]
    return payload
