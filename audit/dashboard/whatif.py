"""The what-if explorer's data: a run's model and test rows, reloaded safely and verified.

Where the rows come from: ``predictions.csv`` holds only row ids and scores, so the feature
values are rebuilt from the run's own suite file (``manifest.suite_file``) with the run's seed,
and accepted only when the data hash equals ``manifest.data_sha256``. The model is the cached
artefact named in ``results.models[name]`` (``recipe``, ``params``, ``hash``, ``artefact``),
loaded through the recipe's skops/safetensors loader, never trained here; a model the suite
loaded from a file goes through the same safe loader as ``audit run``. Before anything is shown,
the reloaded model must reproduce the scores in ``predictions.csv``, so a cleared or replaced
cache can never pass for the audited model. When any of this fails, ``WhatIfUnavailable`` says
why, and the app falls back to the saved explanations (``local_shap.json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from audit.dashboard.runs import safe_path
from audit.dashboard.shapley import Attribution, permutation_shapley
from audit.errors import AuditError
from audit.results import RunResults

SCORE_TOLERANCE = 1e-6
BACKGROUND_ROWS = 50


class WhatIfUnavailable(Exception):
    """The what-if cannot run for this run/model; the message says why, for the visitor."""


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


def stored_scores(run_dir: Path, model: str, dataset: str = "test") -> dict[str, float] | None:
    """Row id (as text) -> stored score from ``predictions.csv``; None when the file is absent."""
    path = run_file_path(run_dir, "predictions.csv")
    if path is None:
        return None
    frame = pd.read_csv(path, dtype={"row_id": str})
    frame = frame[(frame["model"].astype(str) == model) & (frame["dataset"].astype(str) == dataset)]
    return dict(zip(frame["row_id"].astype(str), frame["score"].astype(float), strict=True))


def run_file_path(run_dir: Path, relative: str) -> Path | None:
    """A file inside the run folder, or None; raises ``PathOutsideRoot`` for a path leaving it."""
    path = safe_path(run_dir, relative)
    return path if path.is_file() else None


def open_whatif(results: RunResults, run_dir: Path, model_name: str) -> WhatIf:
    """Reload data and model for ``model_name`` of a finished run, verified against the run."""
    info = results.models.get(model_name)
    if info is None:
        raise WhatIfUnavailable(f"the run has no model '{model_name}'")
    if info.get("modality", "tabular") != "tabular":
        raise WhatIfUnavailable(
            f"editing feature values needs a tabular model; '{model_name}' works on {info.get('modality')} data"
        )
    suite, bundle, seed = _rebuild_data(results)
    if len(bundle.schema.classes) != 2:
        raise WhatIfUnavailable("the what-if explains the positive-class score of binary targets only")
    model = _load_model(info, model_name, suite, bundle, seed)
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
    _verify_scores(what, run_dir, model_name)
    return what


def _rebuild_data(results: RunResults) -> tuple[Any, Any, int]:
    from audit.data.tabular import build_bundle
    from audit.suite import load_suite

    manifest = results.manifest
    source = manifest.get("suite_file")
    if not source or not Path(source).is_file():
        raise WhatIfUnavailable(
            f"the suite file that produced this run ({source or 'not recorded'}) is not on this machine, so its test rows cannot be rebuilt"
        )
    try:
        suite = load_suite(source)
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


def _load_model(info: dict[str, Any], name: str, suite: Any, bundle: Any, seed: int) -> Any:
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
        recipe_name, digest, artefact = info.get("recipe"), str(info.get("hash", "")), info.get("artefact")
        if not recipe_name or not artefact:
            raise WhatIfUnavailable(f"results.json does not record where model '{name}' is cached")
        folder = Path(artefact)
        if folder.name != f"{recipe_name}-{digest[:20]}":
            raise WhatIfUnavailable(f"the artefact folder of '{name}' does not match its recorded hash")
        if not (folder / "done").is_file():
            raise WhatIfUnavailable(
                f"the cached artefact of '{name}' ({folder}) is gone (cache cleared?); re-run the suite to rebuild it"
            )
        recipe_cls = RECIPES.get(recipe_name)
        recipe = recipe_cls(recipe_cls.Params.model_validate(info.get("params") or {}), seed)
        return recipe.load(name, folder, bundle.schema)
    except AuditError as exc:
        raise WhatIfUnavailable(f"model '{name}' cannot be loaded safely: {exc}") from None


def _verify_scores(what: WhatIf, run_dir: Path, name: str) -> None:
    stored = stored_scores(run_dir, name)
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


def saved_local_shap(run_dir: Path, model: str) -> dict[str, Any] | None:
    """``artefacts/<model>/explain/local_shap.json`` as written by the explain check, or None."""
    try:
        path = run_file_path(run_dir, f"artefacts/{model}/explain/local_shap.json")
    except ValueError:
        return None
    if path is None:
        return None
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("rows"), list):
        return None
    payload["rows"] = [r for r in payload["rows"] if isinstance(r, dict) and isinstance(r.get("shap"), dict)]
    return payload
