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
"""

from __future__ import annotations

import io
import json
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audit.dashboard.safefiles import PathOutsideRoot, default_root, read_run_bytes
from audit.dashboard.shapley import Attribution, permutation_shapley
from audit.dashboard.trust import NeedsConfirmation, PathGate, WhatIfUnavailable, gate_suite_files
from audit.errors import AuditError
from audit.results import RunResults

__all__ = ["NeedsConfirmation", "WhatIf", "WhatIfUnavailable", "open_whatif", "saved_local_shap", "stored_scores"]

SCORE_TOLERANCE = 1e-6
BACKGROUND_ROWS = 50


@dataclass
class WhatIf:
    """A verified model plus the run's test rows, ready to score and explain edited rows."""

    model: Any
    features: list[str]
    numeric: list[str]
    categories: dict[str, list[str]]
    rows: pd.DataFrame  # test rows, index = row id as text
    labels: pd.Series  # actual class per row id
    background: pd.DataFrame
    positive: str
    seed: int
    notes: list[str] = field(default_factory=list)

    def score(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of the positive class (the ``score`` column of predictions.csv)."""
        return np.asarray(self.model.predict_proba(X[self.features]), dtype=np.float64)[:, -1]

    def row(self, row_id: str) -> pd.DataFrame:
        return self.rows.loc[[row_id], self.features].reset_index(drop=True)

    def explain(self, row: pd.DataFrame, n_permutations: int = 10) -> Attribution:
        return permutation_shapley(
            self.score, row[self.features], self.background, n_permutations=n_permutations, seed=self.seed
        )


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
        background=bundle.train.X.iloc[
            np.sort(
                np.random.default_rng(seed).choice(
                    len(bundle.train), size=min(BACKGROUND_ROWS, len(bundle.train)), replace=False
                )
            )
        ].reset_index(drop=True),
        positive=str(bundle.schema.positive_label),
        seed=seed,
    )
    _verify_scores(what, run_dir, model_name, gate.root)
    return what


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
