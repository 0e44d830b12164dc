"""Stored metrics shaped for display, and figure specs turned into plotly figures."""

from __future__ import annotations

from pathlib import Path

import pytest
from dashboard_helpers import gate, make_results, metric

from audit.dashboard.figures import error_bars, plain, to_plotly
from audit.dashboard.tables import (
    check_names,
    disparities,
    fmt,
    gate_rows,
    group_attributes,
    group_metric_options,
    group_values,
    overall_pivot,
    split_group,
    trend_frame,
)


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        (None, (None, None)),
        ("sex", ("sex", None)),
        ("sex=female", ("sex", "female")),
        ("sex=male&age_group=<25", ("sex&age_group", "male&<25")),
        ("age_group=>=25", ("age_group", ">=25")),
        ("credit_amount", ("credit_amount", None)),
    ],
)
def test_split_group(group, expected) -> None:
    assert split_group(group) == expected


def test_fmt() -> None:
    assert fmt(0.74, (0.6866, 0.7933)) == "0.74 [0.687, 0.793]"
    assert fmt(None) == "—"
    assert fmt(0.5, None) == "0.5"


def _fair_run():
    return make_results(
        "r",
        "2025-01-01",
        [
            metric("m/performance/accuracy", 0.8, (0.75, 0.85)),
            metric("m/fairness/selection_rate[sex=female]", 0.40, (0.30, 0.50), n=96, direction=None),
            metric("m/fairness/selection_rate[sex=male]", 0.55, (0.48, 0.62), n=204, direction=None),
            metric("m/fairness/accuracy[sex=female]", 0.70, (0.60, 0.80), n=96),
            metric("m/fairness/demographic_parity_difference[sex]", 0.15, (0.05, 0.25), n=300, direction="lower"),
            metric("m/fairness/selection_rate[sex=female&age=young]", 0.3, None, n=20, direction=None),
            metric("m/explain/importance[credit_amount]", 0.2, None),
            metric("m/image_blur/accuracy", 0.5, None),
            metric("m/shift/accuracy[scenario=noise]", 0.6, None),
        ],
        gates=[
            gate("m/fairness/demographic_parity_difference[sex]", "warn", 0.15, "<=", 0.1, "warn"),
            gate("m/performance/accuracy", "pass", 0.8),
        ],
    )


def test_check_names_put_pillars_first_then_others_by_name() -> None:
    assert check_names(_fair_run()) == ["performance", "fairness", "explain", "shift", "image_blur"]


def test_overall_pivot_shows_value_and_interval_per_model() -> None:
    pivot = overall_pivot(_fair_run(), "performance")
    assert pivot.to_dict("records") == [{"metric": "accuracy", "better": "↑ higher", "m": "0.8 [0.75, 0.85]"}]


def test_group_views_read_the_stored_values() -> None:
    r = _fair_run()
    assert group_attributes(r, "m") == ["scenario", "sex", "sex&age"]
    assert group_metric_options(r, "m", "sex") == [("fairness", "selection_rate"), ("fairness", "accuracy")]
    table = group_values(r, "m", "fairness", "selection_rate", "sex")
    assert table[["group", "value", "ci_low", "ci_high", "n"]].to_dict("records") == [
        {"group": "female", "value": 0.40, "ci_low": 0.30, "ci_high": 0.50, "n": 96},
        {"group": "male", "value": 0.55, "ci_low": 0.48, "ci_high": 0.62, "n": 204},
    ]
    disp = disparities(r, "m", "sex")
    assert disp[["metric", "value", "direction"]].to_dict("records") == [
        {"metric": "demographic_parity_difference", "value": 0.15, "direction": "lower"}
    ]
    assert group_values(r, "m", "fairness", "selection_rate", "sex&age")["group"].tolist() == ["female&young"]


def test_gate_rows_worst_first() -> None:
    rows = gate_rows([gate("a", "pass", 0.9), gate("b", "fail", 0.1), gate("c", "error", None), gate("d", "warn", 0.5)])
    assert rows["metric"].tolist() == ["c", "b", "d", "a"]
    assert rows["status"].tolist() == ["ERROR", "FAIL", "WARN", "PASS"]


def test_trend_frame_orders_runs_in_time() -> None:
    r1 = make_results("r1", "2025-01-01", [metric("m/performance/auc", 0.7, (0.6, 0.8))])
    r2 = make_results("r2", "2025-02-01", [metric("m/performance/auc", 0.8, (0.7, 0.9))])
    frame = trend_frame([("r2", "2025-02-01", r2), ("r1", "2025-01-01", r1)], ["m/performance/auc", "m/missing"])
    assert frame[["run_id", "value", "ci_low"]].to_dict("records") == [
        {"run_id": "r1", "value": 0.7, "ci_low": 0.6},
        {"run_id": "r2", "value": 0.8, "ci_low": 0.7},
    ]


def test_plain_breaks_tags_but_keeps_comparisons() -> None:
    assert plain("<b>bold</b>") == "< b>bold< /b>"
    assert plain('<a href="javascript:x">') == '< a href="javascript:x">'
    assert plain("age_group=<25") == "age_group=<25"
    assert plain(">=25") == ">=25"


def test_error_bars_are_distances_from_the_value() -> None:
    bars = error_bars([0.5, None, 0.2], [(0.4, 0.7), (0.1, 0.2), None])
    assert bars["array"][0] == pytest.approx(0.2) and bars["arrayminus"][0] == pytest.approx(0.1)
    assert bars["array"][1:] == [None, None]
    assert error_bars([1.0], None) is None


def test_bar_spec_becomes_a_plotly_bar_with_intervals() -> None:
    spec = {
        "kind": "bar",
        "title": "Selection rate <i>by</i> sex",
        "labels": ["female", "male"],
        "values": [0.4, 0.55],
        "ci": [[0.3, 0.5], [0.48, 0.62]],
        "horizontal": True,
        "value_range": [0, 1],
        "ref_line": 0.5,
        "ref_label": "gate",
    }
    out = to_plotly(spec)
    assert out.kind == "plotly"
    trace = out.figure.data[0]
    assert list(trace.x) == [0.4, 0.55] and list(trace.y) == ["female", "male"] and trace.orientation == "h"
    assert list(trace.error_x.array) == pytest.approx([0.1, 0.07]) and list(trace.error_x.arrayminus) == pytest.approx(
        [0.1, 0.07]
    )
    assert out.figure.layout.title.text == "Selection rate < i>by< /i> sex"
    assert list(out.figure.layout.xaxis.range) == [0, 1]


def test_grouped_bar_line_heatmap_and_tokens_specs() -> None:
    grouped = to_plotly(
        {
            "kind": "grouped_bar",
            "categories": ["a", "b"],
            "series": {"TPR": [0.1, 0.2], "FPR": [0.3, None]},
            "ci": {"TPR": [[0.0, 0.2], None]},
        }
    )
    assert [t.name for t in grouped.figure.data] == ["TPR", "FPR"]
    line = to_plotly(
        {
            "kind": "line",
            "series": {"m": [[0.1, 0.5], [0.2, 0.6]]},
            "bands": {"m": [[0.1, 0.5], [0.3, 0.7]]},
            "diagonal": True,
            "value_range": [0, 1],
        }
    )
    assert line.kind == "plotly" and len(line.figure.data) == 3  # band, line, diagonal
    heat = to_plotly(
        {
            "kind": "heatmap",
            "matrix": [[50, 10], [5, 35]],
            "row_labels": ["bad", "good"],
            "col_labels": ["bad", "good"],
            "fmt": "{:.0f}",
        }
    )
    assert [list(r) for r in heat.figure.data[0].text] == [["50", "10"], ["5", "35"]]
    tokens = to_plotly({"kind": "tokens", "tokens": ["good", "<script>"], "weights": [0.5, -0.2]})
    assert list(tokens.figure.layout.xaxis.ticktext) == ["good", "< script>"]


def test_broken_or_unknown_specs_give_an_error_not_an_exception() -> None:
    assert to_plotly({"kind": "pie"}).kind == "error"
    broken = to_plotly({"kind": "bar", "labels": ["a"]})
    assert broken.kind == "error" and "KeyError" in broken.error


def test_image_specs_stay_inside_the_run_folder(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "artefacts").mkdir(parents=True)
    (run / "artefacts" / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "secret.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    ok = to_plotly({"kind": "image", "path": "artefacts/x.png", "title": "saliency"}, run)
    assert ok.kind == "image" and ok.image == (run / "artefacts" / "x.png").resolve() and ok.caption == "saliency"
    assert ok.data == b"\x89PNG\r\n\x1a\n"  # the bytes the app shows, read without following links
    for bad in ("../secret.png", str(tmp_path / "secret.png"), "artefacts/../../secret.png"):
        out = to_plotly({"kind": "image", "path": bad}, run)
        assert out.kind == "error" and out.image is None
    assert to_plotly({"kind": "image", "path": "results.json"}, run).kind == "error"
