"""Every page follows the run picked in the sidebar; Compare offers runs of the same suite by default;
image and text explain checks are recognised by the Explanation explorer; caches are read once.

Hand-made runs (no models are trained), so these AppTest runs take a second or two each.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from dashboard_helpers import APP, gate, make_results, metric, unmd, write_run
from streamlit.testing.v1 import AppTest

from audit.results import CheckRecord

PAGES = ("Runs", "Run detail", "Compare runs", "Fairness explorer", "Explanation explorer")
OLD, NEW, OTHER = "20250101T000000Z-old000", "20250201T000000Z-new000", "20250301T000000Z-img000"



pytestmark = pytest.mark.usefixtures("fresh_caches")  # conftest.py: each test starts from empty caches


def _credit_like(run_id: str, created: str, auc: float) -> object:
    return make_results(
        run_id,
        created,
        [
            metric("lr/performance/roc_auc", auc, (auc - 0.05, auc + 0.05)),
            metric("lr/fairness/selection_rate[sex=female]", 0.5, (0.4, 0.6), n=40, direction=None),
            metric("lr/fairness/selection_rate[sex=male]", 0.7, (0.6, 0.8), n=60, direction=None),
            metric("lr/fairness/demographic_parity_difference[sex]", 0.2, (0.1, 0.3), direction="lower"),
        ],
        gates=[gate("lr/performance/roc_auc", "pass" if auc >= 0.7 else "fail", auc)],
        status="pass" if auc >= 0.7 else "fail",
        suite="toy",
    )


def _image_run() -> object:
    """A newer run of another suite whose image model ran the explain pillar (image_explain)."""
    results = make_results(
        OTHER,
        "2025-03-01T00:00:00+00:00",
        [
            metric("cnn/performance/accuracy", 0.97, (0.95, 0.98)),
            metric("cnn/explain/deletion_auc", 0.21, None, direction="lower"),
        ],
        suite="digits",
    )
    results.models["cnn"]["modality"] = "image"
    results.checks.append(
        CheckRecord(
            check="explain",
            model="cnn",
            pillar="explain",
            implementation="image_explain",
            figures=[
                {"kind": "line", "title": "deletion curve", "series": {"saliency": [[0, 0.5, 1], [0.9, 0.5, 0.2]]}}
            ],
        )
    )
    return results


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """toy: an older and a newer run; digits: the newest run of all (another suite)."""
    write_run(tmp_path, _credit_like(OLD, "2025-01-01T00:00:00+00:00", 0.80))
    write_run(tmp_path, _credit_like(NEW, "2025-02-01T00:00:00+00:00", 0.60))
    write_run(tmp_path, _image_run())
    monkeypatch.setenv("AUDIT_REPORTS_DIR", str(tmp_path))
    return tmp_path


def _app(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params.update(query or {})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _go(at: AppTest, page: str) -> AppTest:
    at.sidebar.radio(key="page").set_value(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _captions(at: AppTest) -> list[str]:
    return [unmd(c.value) for c in at.caption]


def test_every_page_follows_the_run_picked_in_the_sidebar(reports: Path) -> None:
    at = _app()
    assert at.sidebar.selectbox(key="run").value == f"digits/{OTHER}"  # newest run first
    at.sidebar.selectbox(key="run").set_value(f"toy/{OLD}").run()
    for page in PAGES:
        _go(at, page)
        assert at.sidebar.selectbox(key="run").value == f"toy/{OLD}", page
        assert at.query_params["run"] == f"toy/{OLD}", page
        if page == "Run detail":
            assert unmd(at.title[0].value) == f"toy · run {OLD}"
        else:
            assert any(c.startswith(f"Run toy · {OLD} · PASS") for c in _captions(at)), page
    _go(at, "Fairness explorer")
    groups = at.dataframe[0].value.set_index("group")
    assert groups.loc["female", "value"] == 0.5  # the old toy run's values, not the newest run's
    _go(at, "Compare runs")  # the oldest run of its suite: the baseline of the next newer one
    assert (at.selectbox(key="cmp_a").value, at.selectbox(key="cmp_b").value) == (f"toy/{OLD}", f"toy/{NEW}")


def test_a_deep_link_run_survives_page_changes(reports: Path) -> None:
    at = _app({"page": "fairness", "run": f"toy/{NEW}"})
    assert at.sidebar.radio(key="page").value == "Fairness explorer"
    for page in ("Explanation explorer", "Runs", "Fairness explorer"):
        _go(at, page)
        assert at.sidebar.selectbox(key="run").value == f"toy/{NEW}", page


def test_compare_defaults_to_the_previous_run_of_the_same_suite(reports: Path) -> None:
    at = _app({"page": "compare", "run": f"toy/{NEW}"})
    assert (at.selectbox(key="cmp_a").value, at.selectbox(key="cmp_b").value) == (f"toy/{OLD}", f"toy/{NEW}")
    assert at.selectbox(key="cmp_a").options == [f"toy · {NEW} · FAIL", f"toy · {OLD} · PASS"]  # no digits run
    assert {m.label: m.value for m in at.metric}["metrics compared"] == "4"
    # the oldest run of the suite is compared with the next newer one, never with another suite
    at.sidebar.selectbox(key="run").set_value(f"toy/{OLD}").run()
    assert (at.selectbox(key="cmp_a").value, at.selectbox(key="cmp_b").value) == (f"toy/{OLD}", f"toy/{NEW}")


def test_compare_of_a_single_run_suite_offers_other_suites_only_on_request(reports: Path) -> None:
    at = _app({"page": "compare", "run": f"digits/{OTHER}"})
    assert any("only run of suite digits" in unmd(i.value) for i in at.info)
    assert not at.main.selectbox and not at.main.dataframe  # nothing compared by default
    at.toggle(key="cmp_any_suite").set_value(True).run()
    assert at.selectbox(key="cmp_b").value == f"digits/{OTHER}"
    assert any("they share few metrics" in unmd(w.value) for w in at.warning)


def test_explanation_explorer_recognises_an_image_explain_check(reports: Path) -> None:
    at = _app({"page": "explain", "run": f"digits/{OTHER}"})
    texts = [unmd(x.value) for x in list(at.info) + list(at.subheader) + list(at.caption)]
    assert not any("add `explain`" in t for t in texts)
    assert "image_explain on cnn (image)" in texts
    assert any("needs a tabular model" in t for t in texts)
    assert len(at.get("plotly_chart")) == 1  # the check's deletion curve
    assert at.dataframe[0].value.set_index("metric").loc["deletion_auc", "cnn"].startswith("0.21")


def test_explanation_explorer_names_a_missing_explain_check(reports: Path) -> None:
    at = _app({"page": "explain", "run": f"toy/{OLD}"})
    assert any("has no explain check for lr" in unmd(i.value) for i in at.info)


def test_results_are_parsed_once_and_figures_built_once(reports: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import audit.dashboard.figures as figures
    import audit.dashboard.runs as runs

    parsed, drawn = [], []
    real_parse, real_chart = runs._parse, figures.metric_chart
    monkeypatch.setattr(runs, "_parse", lambda data, where: parsed.append(where) or real_parse(data, where))

    def chart(*args, **kwargs):  # the Run detail charts (the Fairness explorer draws its own each time)
        if " by " in str(kwargs.get("title")):
            drawn.append(kwargs.get("title"))
        return real_chart(*args, **kwargs)

    monkeypatch.setattr(figures, "metric_chart", chart)
    runs._load_cached.cache_clear()
    at = _app({"page": "detail", "run": f"toy/{OLD}"})
    at.session_state["detail_tab"] = "performance"
    at.run()
    first_parsed, first_drawn = len(parsed), len(drawn)
    assert first_parsed == 3 and first_drawn >= 1  # each run folder once (the listing reads all three)
    for page in PAGES + ("Run detail",):
        _go(at, page)
    at.session_state["detail_tab"] = "performance"
    at.run()
    assert len(parsed) == first_parsed and len(drawn) == first_drawn
    results = reports / "toy" / OLD / "results.json"  # a rewritten run is read afresh
    results.write_text(results.read_text())
    import os

    os.utime(results, ns=(results.stat().st_atime_ns, results.stat().st_mtime_ns + 1_000_000))
    at.run()
    assert len(parsed) == first_parsed + 1


def test_run_detail_draws_only_the_open_tab(reports: Path) -> None:
    at = _app({"page": "detail", "run": f"toy/{OLD}"})
    assert [t.label for t in at.tabs] == ["Findings and gates", "performance", "fairness", "Run info"]
    assert [h.value for h in at.header] == ["What to look at first", "Gates"] and not at.get("plotly_chart")
    at.session_state["detail_tab"] = "performance"
    at.run()
    assert at.selectbox(key="detail_metric_performance").value == "roc_auc"
    assert not at.header  # the findings and gates are not drawn while another tab is open
    assert not [s for s in at.selectbox if s.key == "detail_metric_fairness"]
    at.session_state["detail_tab"] = "fairness"
    at.run()
    assert at.selectbox(key="detail_metric_fairness").value == "selection_rate"
    assert not [s for s in at.selectbox if s.key == "detail_metric_performance"]


def test_compare_says_when_runs_are_not_comparable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = (
        _credit_like(OLD, "2025-01-01T00:00:00+00:00", 0.80),
        _credit_like(NEW, "2025-02-01T00:00:00+00:00", 0.60),
    )
    new.manifest["seed"] = 7  # another seed: another split, other bootstrap samples
    write_run(tmp_path, old)
    write_run(tmp_path, new)
    monkeypatch.setenv("AUDIT_REPORTS_DIR", str(tmp_path))
    at = _app({"page": "compare", "run": f"toy/{NEW}"})
    warning = next(unmd(w.value) for w in at.warning if "not comparable" in unmd(w.value))
    assert "seed: 0 vs 7" in warning


def test_compare_of_comparable_runs_gives_no_such_warning(reports: Path) -> None:
    at = _app({"page": "compare", "run": f"toy/{NEW}"})
    assert not any("not comparable" in unmd(w.value) for w in at.warning)
