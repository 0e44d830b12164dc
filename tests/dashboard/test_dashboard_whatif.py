"""Reloading a run's model for the what-if: safe, verified against the run, or refused with a reason."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit.dashboard.whatif import (
    SCORE_TOLERANCE,
    NeedsConfirmation,
    WhatIfUnavailable,
    open_whatif,
    saved_local_shap,
    stored_scores,
)
from audit.results import RunResults, load_results

pytestmark = pytest.mark.slow  # needs the session's real credit run


def _copy_run(credit_run, tmp_path: Path, edit=None) -> Path:
    run = tmp_path / "credit" / credit_run.run_dir.name
    shutil.copytree(credit_run.run_dir, run)
    if edit is not None:
        raw = json.loads((run / "results.json").read_text())
        edit(raw)
        (run / "results.json").write_text(json.dumps(raw))
    return run


def trusted(results: RunResults, model: str) -> set[str]:
    """The paths outside the run folder that a visitor would confirm for ``model``."""
    return {results.manifest["suite_file"], results.models[model]["artefact"]}


def opened(results: RunResults, run: Path, model: str):
    """``open_whatif`` as after the visitor confirmed the run's suite file and model folder."""
    return open_whatif(results, run, model, trusted_paths=trusted(results, model))


def test_model_and_suite_outside_the_run_need_confirmation(credit_run) -> None:
    with pytest.raises(NeedsConfirmation) as caught:
        open_whatif(credit_run.results, credit_run.run_dir, "logreg")
    assert {p for _, p in caught.value.paths} == trusted(credit_run.results, "logreg")
    with pytest.raises(NeedsConfirmation) as caught:  # half confirmed is not confirmed
        open_whatif(
            credit_run.results,
            credit_run.run_dir,
            "logreg",
            trusted_paths={credit_run.results.manifest["suite_file"]},
        )
    assert [p for _, p in caught.value.paths] == [credit_run.results.models["logreg"]["artefact"]]


@pytest.mark.parametrize("model", ["logreg", "gbm", "mlp"])
def test_reloaded_model_reproduces_the_stored_scores(credit_run, model: str) -> None:
    what = opened(credit_run.results, credit_run.run_dir, model)
    stored = stored_scores(credit_run.run_dir, model)
    assert len(what.rows) == 300 and set(what.rows.index) == set(stored)
    ids = list(what.rows.index[:25])
    np.testing.assert_allclose(
        what.score(what.rows.loc[ids]), [stored[i] for i in ids], rtol=0, atol=SCORE_TOLERANCE
    )  # float32 MLP: ~1e-7
    assert any("reproduces the run's 300 test scores" in note for note in what.notes)


def test_edited_row_changes_score_and_attributions_add_up(credit_run) -> None:
    what = opened(credit_run.results, credit_run.run_dir, "logreg")
    row_id = what.rows.index[0]
    row = what.row(row_id)
    edited = row.copy()
    edited.loc[0, "duration_months"] = 72
    edited.loc[0, "checking_status"] = "A11" if row.loc[0, "checking_status"] != "A11" else "A14"
    before, after = what.explain(row), what.explain(edited)
    assert before.score == pytest.approx(stored_scores(credit_run.run_dir, "logreg")[row_id], abs=SCORE_TOLERANCE)
    assert after.score != pytest.approx(before.score, abs=1e-3)
    assert after.output_space == "log-odds"  # the explain check's LinearExplainer, on the log-odds
    assert after.output == pytest.approx(np.log(after.score / (1 - after.score)), abs=1e-9)
    assert after.values.sum() == pytest.approx(after.output - after.base, abs=1e-9)
    assert after.base == before.base  # the background does not move with the explained row
    changed = dict(zip(after.features, after.values - before.values, strict=True))
    assert abs(changed["duration_months"]) > 1e-6 and abs(changed["checking_status"]) > 1e-6
    untouched = [f for f in after.features if f not in ("duration_months", "checking_status")]
    assert all(abs(changed[f]) < 1e-12 for f in untouched)  # linear: only the edited features move


@pytest.mark.parametrize("model", ["logreg", "gbm", "mlp"])
def test_unedited_rows_get_the_saved_shap_of_the_run(credit_run, model: str) -> None:
    """On the real credit run, the what-if's SHAP of saved rows equals local_shap.json's."""
    saved = saved_local_shap(credit_run.run_dir, model)
    if saved is None:
        pytest.skip("this credit suite has no explain check writing local_shap.json")
    what = opened(credit_run.results, credit_run.run_dir, model)
    for row in saved["rows"][:3]:
        out = what.explain(what.row(str(row["row_id"])))
        assert (out.explainer, out.output_space) == (saved["explainer"], saved["output_space"])
        np.testing.assert_allclose(out.values, [row["shap"][f] for f in out.features], rtol=0, atol=1e-9)
        assert out.base == pytest.approx(row["base_value"], abs=1e-9)


def test_cleared_cache_is_reported_not_retrained(credit_run, tmp_path: Path) -> None:
    def move(raw):
        info = raw["models"]["gbm"]
        info["artefact"] = str(tmp_path / "gone" / Path(info["artefact"]).name)

    run = _copy_run(credit_run, tmp_path, move)
    with pytest.raises(WhatIfUnavailable, match="cached artefact of 'gbm' .* is gone"):
        opened(load_results(run), run, "gbm")


def test_artefact_folder_must_match_the_recorded_hash(credit_run, tmp_path: Path) -> None:
    def swap(raw):
        raw["models"]["gbm"]["artefact"] = raw["models"]["logreg"]["artefact"]

    run = _copy_run(credit_run, tmp_path, swap)
    with pytest.raises(WhatIfUnavailable, match="does not match its recorded hash"):
        opened(load_results(run), run, "gbm")


def test_a_model_that_does_not_reproduce_the_run_is_refused(credit_run, tmp_path: Path) -> None:
    run = _copy_run(credit_run, tmp_path)
    frame = pd.read_csv(run / "predictions.csv")
    frame.loc[frame["model"] == "mlp", "score"] = 0.5
    frame.to_csv(run / "predictions.csv", index=False)
    with pytest.raises(WhatIfUnavailable, match="does not reproduce the run's scores"):
        opened(load_results(run), run, "mlp")


def test_changed_data_or_missing_suite_file_is_refused(credit_run, tmp_path: Path) -> None:
    run = _copy_run(credit_run, tmp_path, lambda raw: raw["manifest"].update(data_sha256="0" * 64))
    with pytest.raises(WhatIfUnavailable, match="data behind .* changed since this run"):
        opened(load_results(run), run, "logreg")
    run2 = _copy_run(
        credit_run, tmp_path / "b", lambda raw: raw["manifest"].update(suite_file=str(tmp_path / "moved.yaml"))
    )
    with pytest.raises(WhatIfUnavailable, match="suite file that produced this run .* is not on this machine"):
        opened(load_results(run2), run2, "logreg")


def test_saved_local_shap_is_read_from_inside_the_run_only(credit_run, tmp_path: Path) -> None:
    saved = saved_local_shap(credit_run.run_dir, "logreg")
    if saved is None:
        pytest.skip("this credit suite has no explain check writing local_shap.json")
    assert saved["rows"] and set(saved["rows"][0]["shap"]) <= set(credit_run.results.suite["features"])
    assert saved_local_shap(credit_run.run_dir, "../../../etc") is None
