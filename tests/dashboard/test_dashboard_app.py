"""Every dashboard page, driven by Streamlit's AppTest against a real credit-suite run folder.

``credit_reports`` (conftest) holds the real run and a newer candidate copy whose logreg ROC AUC
dropped to 0.60 and failed its gate; the pages must show what results.json says, nothing else.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from dashboard_helpers import APP, CANDIDATE_ID, DROPPED, gate, make_results, metric, unmd, write_run
from streamlit.testing.v1 import AppTest

from audit.dashboard.tables import fmt
from audit.dashboard.whatif import stored_scores

pytestmark = pytest.mark.slow  # needs the session's real credit run; each page run takes seconds

PAGES = ("Runs", "Run detail", "Compare runs", "Fairness explorer", "Explanation explorer")



def open_page(page: str, run: str | None = None, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=240)
    at.query_params.update(query or {})
    at.run()
    if page != at.sidebar.radio(key="page").value:
        at.sidebar.radio(key="page").set_value(page).run()
    if run is not None and at.sidebar.selectbox(key="run").value != run:
        at.sidebar.selectbox(key="run").set_value(run).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest, *kinds: str) -> list[str]:
    return [unmd(str(el.value)) for kind in kinds for el in getattr(at, kind)]


def frames(at: AppTest) -> list[pd.DataFrame]:
    return [df.value for df in at.dataframe]


def confirm_files(at: AppTest) -> AppTest:
    """Tick every "I trust this file" box of the what-if (they start unticked) and rerun."""
    boxes = [b for b in at.checkbox if str(b.key).startswith("wi_trust_")]
    assert boxes and not any(b.value for b in boxes)
    for box in boxes:
        box.check()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def real_key(credit_run) -> str:
    return f"credit/{credit_run.run_dir.name}"


def test_runs_page_gives_the_latest_verdict_and_why(credit_reports: Path, credit_run, app_env) -> None:
    app_env(credit_reports)
    at = open_page("Runs")
    candidate = json.loads((credit_reports / "credit" / CANDIDATE_ID / "results.json").read_text())
    n = {s: sum(g["status"] == s for g in candidate["gates"]) for s in ("pass", "warn", "fail", "error")}
    assert n["fail"] == 1  # the real run passes its fail-severity gates; the candidate breaks one
    headline = f"FAIL: {n['pass']} gates pass, {n['warn']} warn, 1 fail, {n['error']} error"
    assert any(t.startswith(headline) for t in texts(at, "error"))
    why = frames(at)[0]
    assert {"status": "fail", "gate": f"{DROPPED} >= 0.7", "measured": 0.60} in why[["status", "gate", "measured"]].to_dict("records")
    runs = frames(at)[1]
    assert runs["run"].tolist() == [CANDIDATE_ID, credit_run.run_dir.name]  # newest first, .partial skipped
    assert runs["verdict"].tolist() == ["FAIL", credit_run.results.status.upper()]
    assert len(at.get("plotly_chart")) == 1  # the trend chart of the default (gate) metrics
    trend = frames(at)[2]
    roc = trend[trend["path"] == DROPPED].sort_values("created_at")
    assert roc["value"].tolist() == [credit_run.results.metric(DROPPED).value, 0.60]


def test_run_detail_shows_gates_first_then_a_tab_per_check(credit_reports: Path, credit_run, app_env) -> None:
    app_env(credit_reports)
    r = credit_run.results
    at = open_page("Run detail", run=real_key(credit_run))
    assert unmd(at.title[0].value) == f"credit · run {r.run_id}"
    counts = {m.label: int(m.value) for m in at.metric}
    assert counts == {s: sum(g.status == s for g in r.gates) for s in ("pass", "warn", "fail", "error", "skipped")}
    failing, passing = frames(at)[0], frames(at)[1]  # gates that did not pass first; passing ones collapsed
    assert "PASS" not in failing["status"].tolist() and set(passing["status"]) == {"PASS"}
    gates = pd.concat([failing, passing])
    shown = {(row.metric, row.status, round(row.measured, 12)) for row in gates.itertuples()}
    assert shown == {(g.metric, g.status.upper(), round(g.observed, 12)) for g in r.gates}
    assert [h.value for h in at.header][:2] == ["What to look at first", "Gates"]
    assert any("foreign_worker" in unmd(m.value) for m in at.markdown)  # the findings name the ungated disparity
    labels = [t.label for t in at.tabs]
    present = {c.check for c in r.checks}
    assert labels[:2] == ["Findings and gates", "performance"] and labels[-1] == "Run info"
    assert set(labels) == present | {"Findings and gates", "Run info"}
    assert not at.get("plotly_chart")  # the first tab draws no chart; a check's tab draws when opened
    at.session_state["detail_tab"] = "performance"
    at.run()
    pivot = next(f for f in frames(at) if "metric" in f.columns and "logreg" in f.columns)
    roc = r.metric("logreg/performance/roc_auc")
    assert pivot.set_index("metric").loc["roc_auc", "logreg"] == fmt(roc.value, roc.ci)
    assert len(at.get("plotly_chart")) >= 6  # the open (performance) tab: metric charts and converted figure specs


def test_deep_link_opens_a_run_and_rejects_paths(credit_reports: Path, credit_run, app_env) -> None:
    app_env(credit_reports)
    at = open_page("Run detail", query={"page": "detail", "run": f"credit/{CANDIDATE_ID}"})
    assert CANDIDATE_ID in unmd(at.title[0].value)
    assert "FAIL" in frames(at)[0]["status"].tolist()
    for bad in ("../../etc", f"credit/../credit/{credit_run.run_dir.name}", "/etc/passwd"):
        at = open_page("Run detail", query={"page": "detail", "run": bad})
        assert CANDIDATE_ID in unmd(at.title[0].value)  # unknown key: the newest run, never a path


def test_compare_highlights_the_regression(credit_reports: Path, credit_run, app_env) -> None:
    app_env(credit_reports)
    at = open_page("Compare runs", run=f"credit/{CANDIDATE_ID}")
    assert at.selectbox(key="cmp_a").value == real_key(credit_run)  # baseline: the previous run of the suite
    counts = {m.label: m.value for m in at.metric}
    assert counts["regressions, intervals disjoint"] == "1" and counts["metrics compared"] == str(
        len(credit_run.results.metrics)
    )
    gates = frames(at)[0].set_index("gate")  # only the gate that changed status leads; the rest are collapsed
    assert gates.index.tolist() == [f"{DROPPED} >= 0.7"] and counts["gates changed status"] == "1"
    assert gates.loc[f"{DROPPED} >= 0.7", ["a_status", "b_status", "changed"]].tolist() == ["pass", "fail", True]
    table = frames(at)[-1]
    first = table.iloc[0]
    before = credit_run.results.metric(DROPPED)
    assert (first["path"], first["verdict"], bool(first["overlap"])) == (DROPPED, "regressed", False)
    assert first["a"] == before.value and first["b"] == 0.60
    assert first["change"] == pytest.approx(0.60 - before.value)
    assert len(table) == 1  # every other metric is unchanged, hidden by the default filter


def test_fairness_explorer_per_group_values_disparity_and_gate(credit_reports: Path, credit_run, app_env) -> None:
    app_env(credit_reports)
    r = credit_run.results
    at = open_page("Fairness explorer", run=real_key(credit_run))
    at.selectbox(key="fx_model").set_value("logreg").run()
    assert (
        at.selectbox(key="fx_attr").value == "sex" and at.selectbox(key="fx_metric").value == "fairness/selection_rate"
    )
    groups = frames(at)[0].set_index("group")
    for level in ("female", "male"):
        m = r.metric(f"logreg/fairness/selection_rate[sex={level}]")
        assert (groups.loc[level, "value"], groups.loc[level, "n"]) == (m.value, m.n)
        assert (groups.loc[level, "ci_low"], groups.loc[level, "ci_high"]) == tuple(m.ci)
    disp = frames(at)[1].set_index("metric")
    assert (
        disp.loc["demographic_parity_difference", "value"]
        == r.metric("logreg/fairness/demographic_parity_difference[sex]").value
    )
    judged = [g for g in r.gates if g.metric == "logreg/fairness/demographic_parity_difference[sex]"]
    assert any(judged[0].expression in t for t in texts(at, "success", "warning", "error"))
    at.selectbox(key="fx_attr").set_value("sex&age_group").run()
    assert sorted(frames(at)[0]["group"]) == sorted(f"{s}&{a}" for s in ("female", "male") for a in ("<25", ">=25"))


def test_explanation_explorer_what_if_changes_the_score(credit_reports: Path, credit_run, app_env) -> None:
    app_env(credit_reports)
    at = open_page("Explanation explorer", run=real_key(credit_run))
    at.selectbox(key="ex_model").set_value("logreg").run()
    assert not at.form_submit_button  # nothing outside the run folder is loaded unasked
    assert any("What-if is not loaded" in t and "outside its own folder" in t for t in texts(at, "warning"))
    labels = {unmd(b.label) for b in at.checkbox}
    assert f"I trust this suite file: {credit_run.results.manifest['suite_file']}" in labels
    confirm_files(at)
    row = at.selectbox(key="ex_row_logreg").value
    stored = stored_scores(credit_run.run_dir, "logreg")[row]
    scores = {unmd(m.label): m.value for m in at.metric}
    assert scores["Stored score P(good)"] == f"{stored:.4f}" == scores["Edited score P(good)"]
    at.number_input(key=f"wi_logreg_{row}_duration_months").set_value(72)
    status = at.selectbox(key=f"wi_logreg_{row}_checking_status")
    status.set_value(next(o for o in status.options if o != status.value))
    at.form_submit_button[0].click().run()
    assert not at.exception
    edited = next(m for m in at.metric if unmd(m.label) == "Edited score P(good)")
    assert abs(float(edited.value) - stored) > 0.01
    assert float(edited.proto.delta) == pytest.approx(float(edited.value) - stored, abs=2e-4)
    assert any(t.startswith("Changed: ") and "duration_months → 72" in t for t in texts(at, "info"))


def test_what_if_threshold_flip_and_counterfactual_on_the_credit_run(credit_reports: Path, credit_run, app_env) -> None:
    """The stored decision, the threshold, the searched counterfactual and the flip it causes, as shown."""
    app_env(credit_reports)
    at = open_page("Explanation explorer", run=real_key(credit_run))
    at.selectbox(key="ex_model").set_value("logreg").run()
    confirm_files(at)
    row = at.selectbox(key="ex_row_logreg").value
    predictions = pd.read_csv(credit_run.run_dir / "predictions.csv", dtype={"row_id": str})
    stored = predictions[(predictions["model"] == "logreg") & (predictions["row_id"] == row)].iloc[0]
    shown = {unmd(m.label): m.value for m in at.metric}
    assert shown["Model decision"] == stored["y_pred"] and shown["Decision threshold"] == "0.5"
    assert len(at.get("plotly_chart")) >= 2  # the score against the threshold, and one attribution chart
    mutable = at.multiselect(key="cf_mutable_logreg").value
    assert not {"age", "foreign_worker", "personal_status_sex"} & set(mutable)
    at.button(key=f"cf_go_logreg_{row}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    other = "bad" if stored["y_pred"] == "good" else "good"
    assert any(f"flips the decision {stored['y_pred']} → {other}" in t for t in texts(at, "success"))
    changes = frames(at)[-1]
    assert list(changes.columns) == ["feature", "original", "counterfactual"] and set(changes["feature"]) <= set(mutable)
    at.button(key=f"cf_apply_logreg_{row}").click().run()
    assert any(t.startswith(f"The decision flips: {stored['y_pred']} → {other}") for t in texts(at, "error"))


def test_explanation_explorer_without_artefacts_shows_saved_explanations(credit_run, tmp_path: Path, app_env) -> None:
    run = tmp_path / "credit" / credit_run.run_dir.name
    shutil.copytree(credit_run.run_dir, run)
    raw = json.loads((run / "results.json").read_text())
    raw["models"]["logreg"]["artefact"] = str(tmp_path / "cleared" / Path(raw["models"]["logreg"]["artefact"]).name)
    (run / "results.json").write_text(json.dumps(raw))
    app_env(tmp_path)
    at = open_page("Explanation explorer")
    at.selectbox(key="ex_model").set_value("logreg").run()
    confirm_files(at)
    assert any("What-if is unavailable" in t and "is gone (cache cleared?)" in t for t in texts(at, "warning"))
    assert not at.form_submit_button
    if (run / "artefacts" / "logreg" / "explain" / "local_shap.json").is_file():
        assert at.selectbox(key="ex_row_logreg").options  # rows of the saved explanations
        assert len(at.get("plotly_chart")) >= 1


def test_every_page_opens_on_an_empty_folder(tmp_path: Path, app_env) -> None:
    app_env(tmp_path)
    for page in PAGES:
        at = open_page(page)
        assert any("No finished runs" in t for t in texts(at, "info")), page


def test_hostile_names_are_shown_as_text(tmp_path: Path, app_env) -> None:
    """Model names and group values come from user data: they must never become HTML or links."""
    evil_model, evil_group = "<img src=x onerror=alert(1)>", "[click](http://evil.example)"
    results = make_results(
        "20250101T000000Z-aaaaaa",
        "2025-01-01T00:00:00+00:00",
        [
            metric(f"{evil_model}/fairness/selection_rate[sex={evil_group}]", 0.4, (0.3, 0.5), n=40, direction=None),
            metric(f"{evil_model}/fairness/selection_rate[sex=male]", 0.6, (0.5, 0.7), n=60, direction=None),
            metric(f"{evil_model}/fairness/demographic_parity_difference[sex]", 0.2, (0.1, 0.3), direction="lower"),
        ],
        gates=[gate(f"{evil_model}/fairness/demographic_parity_difference[sex]", "fail", 0.2, "<=", 0.1)],
        status="fail",
    )
    write_run(tmp_path, results)
    app_env(tmp_path)
    for page in PAGES:
        at = open_page(page)
        assert all(not el.allow_html for el in list(at.markdown) + list(at.caption)), page
        for kind in ("markdown", "caption", "title", "header", "subheader", "error", "warning", "info", "success"):
            for el in getattr(at, kind):
                assert not re.search(r"(?<!\\)<img|(?<!\\)\[click", str(el.value)), (page, kind, el.value)
    at = open_page("Fairness explorer")
    assert evil_group in frames(at)[0]["group"].tolist()  # shown verbatim, as data


def test_check_figures_render_generically_and_images_stay_in_the_run(tmp_path: Path, app_env) -> None:
    """An unknown pillar's record: its bar, tokens and image specs show; an image path leaving the run does not."""
    from PIL import Image

    from audit.results import CheckRecord

    results = make_results("20250101T000000Z-aaaaaa", "2025-01-01T00:00:00+00:00", [
        metric("m/text_whatever/accuracy", 0.9, (0.85, 0.95)),
        metric("m/text_whatever/accuracy[identity=a]", 0.8, (0.7, 0.9), n=40),
    ])  # fmt: skip
    results.checks.append(
        CheckRecord(
            check="text_whatever",
            model="m",
            figures=[
                {"kind": "bar", "title": "per identity", "labels": ["a"], "values": [0.8], "ci": [[0.7, 0.9]]},
                {"kind": "tokens", "title": "attributions", "tokens": ["good", "film"], "weights": [0.4, -0.1]},
                {"kind": "image", "path": "artefacts/m/text_whatever/saliency.png", "title": "saliency"},
                {"kind": "image", "path": "../../../secret.png", "title": "escape"},
            ],
            tables={"examples": [{"text": "<b>hi</b>", "score": 0.5, "ci": [0.4, 0.6]}]},
        )
    )
    run = write_run(tmp_path / "reports", results)
    (run / "artefacts" / "m" / "text_whatever").mkdir(parents=True)
    Image.new("RGB", (8, 8), (200, 30, 30)).save(run / "artefacts" / "m" / "text_whatever" / "saliency.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "secret.png")
    app_env(tmp_path / "reports")
    at = open_page("Run detail")
    assert [t.label for t in at.tabs] == ["Findings and gates", r"text\_whatever", "Run info"]
    at.session_state["detail_tab"] = r"text\_whatever"
    at.session_state["detail_table_text_whatever_m_0"] = True  # open the (lazy) table expander
    at.run()
    assert len(at.image) == 1 and at.image[0].captions == ["saliency"]
    assert any("image not shown" in t and "leads outside the reports folder" in t for t in texts(at, "warning"))
    examples = next(f for f in frames(at) if "text" in f.columns)
    assert examples.to_dict("records") == [{"text": "<b>hi</b>", "score": 0.5, "ci": "[0.4, 0.6]"}]
    assert len(at.get("plotly_chart")) == 4  # overall metric, per-group metric, bar spec, tokens spec
