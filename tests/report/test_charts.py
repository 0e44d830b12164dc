"""Tests for the inline SVG charts: well-formed, escaped, NaN-tolerant, 1-2-5 ticks."""

from __future__ import annotations

import html
import math
import random
import re
import xml.etree.ElementTree as ET

import pytest

from audit.report.charts import bar_chart, grouped_bar_chart, heatmap, line_chart, nice_ticks

NS = "{http://www.w3.org/2000/svg}"
PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "</svg><svg onload=alert(1)>",
]
SAFE_TAGS = {"svg", "rect", "line", "path", "text", "title", "circle", "polygon", "tspan", "g"}


def parse(svg: str) -> ET.Element:
    assert svg.startswith("<svg")
    root = ET.fromstring(svg)
    assert root.tag == NS + "svg"
    return root


def find(svg: str, tag: str, cls: str | None = None) -> list[ET.Element]:
    els = parse(svg).iter(NS + tag)
    return [e for e in els if cls is None or e.get("class") == cls]


def texts(svg: str) -> list[str]:
    """Visible text of <text> elements (without their <title> tooltips)."""
    out = []
    for e in find(svg, "text"):
        spans = [s.text or "" for s in e.iter(NS + "tspan")]
        out.append(" ".join(spans) if spans else (e.text or "") + "".join(c.tail or "" for c in e))
    return out


def tick_texts(svg: str) -> list[str]:
    return [(e.text or "") for e in find(svg, "text") if e.get("font-size") == "10"]


def all_charts(label: str) -> list[str]:
    """One of each chart with ``label`` in every user-supplied text slot."""
    return [
        bar_chart([label, "b"], [0.5, 0.7], ci=[(0.4, 0.6), None], title=label, x_label=label,
                  ref_line=0.6, ref_label=label),
        bar_chart([label, "b"], [0.5, None], title=label, x_label=label, horizontal=True,
                  ref_line=0.1, ref_label=label),
        grouped_bar_chart([label, "g2"], {label: [0.1, 0.2], "m2": [0.3, None]}, title=label),
        line_chart({label: ([0.0, 0.5, 1.0], [0.1, None, 0.9])},
                   bands={label: ([0.0, 0.3, 0.8], [0.2, 0.6, 1.0])},
                   title=label, x_label=label, y_label=label, diagonal=True),
        heatmap([[1, 2], [3, 4]], row_labels=[label, "r2"], col_labels=["c1", label],
                title=label, x_label=label, y_label=label),
    ]


# --- ticks -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (0, 0.87, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (0, 1, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (0, 100, [0, 20, 40, 60, 80, 100]),
        (0, 7, [0, 2, 4, 6, 8]),
        (-3, 12, [-5, 0, 5, 10, 15]),
        (0.5, 0.55, [0.5, 0.51, 0.52, 0.53, 0.54, 0.55]),
        (0, 1234, [0, 500, 1000, 1500]),
        (-0.004, 0.121, [-0.05, 0.0, 0.05, 0.1, 0.15]),
        (12, 0, [0, 5, 10, 15]),  # reversed input
    ],
)
def test_nice_ticks_known_ranges(lo, hi, expected):
    assert nice_ticks(lo, hi) == pytest.approx(expected, abs=1e-12)


def test_nice_ticks_degenerate_range_still_gives_ticks_around_the_value():
    ticks = nice_ticks(5, 5)
    assert len(ticks) >= 2 and ticks[0] < 5 < ticks[-1]
    assert nice_ticks(0, 0) == pytest.approx([-1.0, -0.5, 0.0, 0.5, 1.0])


def test_nice_ticks_always_use_1_2_5_steps_and_cover_the_range():
    rng = random.Random(7)
    for _ in range(500):
        lo = rng.uniform(-1e4, 1e4) * 10 ** rng.randint(-6, 0)
        hi = lo + rng.uniform(1e-6, 1e4) * 10 ** rng.randint(-4, 0)
        ticks = nice_ticks(lo, hi)
        step = ticks[1] - ticks[0]
        mantissa = step / 10 ** math.floor(math.log10(step) + 1e-9)
        assert min(abs(mantissa - m) for m in (1, 2, 5, 10)) < 1e-6, (lo, hi, ticks)
        assert all(abs((b - a) - step) < step * 1e-6 for a, b in zip(ticks, ticks[1:], strict=False))
        assert ticks[0] <= lo + step * 1e-6 and ticks[-1] >= hi - step * 1e-6
        assert 2 <= len(ticks) <= 8


def test_bar_chart_tick_labels_are_nice_and_fixed_precision():
    svg = bar_chart(["a", "b"], [0.31, 0.87])
    assert tick_texts(svg) == ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]
    svg = bar_chart(["a", "b"], [0.31, 0.87], value_range=(0, 0.5))
    assert tick_texts(svg) == ["0.0", "0.1", "0.2", "0.3", "0.4", "0.5"]


def test_log_x_ticks_are_powers_of_ten():
    svg = line_chart({"s": ([1, 30, 900], [0.1, 0.2, 0.3])}, log_x=True)
    assert {"1", "10", "100", "1000"} <= set(tick_texts(svg))


# --- structure and escaping ---------------------------------------------------------------------

@pytest.mark.parametrize("svg", all_charts("plain label"))
def test_charts_are_well_formed_accessible_svg(svg):
    root = parse(svg)
    assert root.get("role") == "img"
    assert root.get("aria-label") == "plain label"
    assert {el.tag.removeprefix(NS) for el in root.iter()} <= SAFE_TAGS
    assert int(root.get("width")) > 0 and int(root.get("height")) > 0
    assert not re.search(r"\d\.\d{5,}", svg), "numbers must use a fixed precision"


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_text_is_escaped_everywhere(payload):
    for svg in all_charts(payload):
        root = parse(svg)
        assert payload not in svg
        assert html.escape(payload, quote=True) in svg
        assert svg.count("<svg") == 1 and svg.count("</svg>") == 1
        assert "<script" not in svg and "<img" not in svg
        assert {el.tag.removeprefix(NS) for el in root.iter()} <= SAFE_TAGS
        assert root.get("aria-label") == payload  # round-trips as text, not markup


def test_hostile_heatmap_format_output_is_escaped():
    svg = heatmap([[1.0]], row_labels=["r"], col_labels=["c"], fmt="<b>{:.1f}</b>")
    parse(svg)
    assert "<b>" not in svg and "&lt;b&gt;1.0&lt;/b&gt;" in svg


# --- bars ---------------------------------------------------------------------------------------

def test_bar_count_equals_finite_values_and_missing_are_labelled_na():
    values = [0.2, None, float("nan"), 0.9, float("inf"), -0.1]
    svg = bar_chart(list("abcdef"), values)
    assert len(find(svg, "rect", "bar")) == 3
    assert texts(svg).count("n/a") == 3
    tips = [e.findtext(NS + "title") for e in find(svg, "rect", "bar")]
    assert tips == ["a: 0.200", "d: 0.900", "f: -0.100"]


def test_horizontal_bars_long_labels_wrap_in_full_with_tooltip():
    long = "marital_status=Married-civ-spouse-and-a-very-long-suffix"
    svg = bar_chart([long, "age"], [0.1, 0.05], horizontal=True)
    assert len(find(svg, "rect", "bar")) == 2
    label = next(e for e in find(svg, "text") if e.findtext(NS + "title") == long)
    shown = "".join(s.text for s in label.iter(NS + "tspan"))
    assert shown == long  # the chart widens (or the label wraps) rather than cutting it


def test_vertical_bars_whose_labels_do_not_fit_are_laid_out_sideways():
    cats = ["foreign_worker=no", "foreign_worker=yes", "sex=female&age_group=<25", "sex=male&age_group=>=25"] * 3
    svg = grouped_bar_chart(cats, {"a": [0.5] * 12, "b": [0.4] * 12}, width=420)
    labels = [e for e in find(svg, "text") if e.findtext(NS + "title") in cats]
    assert labels and all(e.get("text-anchor") == "end" for e in labels)
    assert all("\u2026" not in "".join(s.text for s in e.iter(NS + "tspan")) for e in labels)


def test_annotations_show_n_with_each_group():
    svg = bar_chart(["no", "yes"], [1.0, 0.74], annotations=["n=13", "n=287"], horizontal=True)
    assert any("n=13" in t for t in texts(svg)) and any("n=287" in t for t in texts(svg))
    tips = [e.findtext(NS + "title") for e in find(svg, "rect", "bar")]
    assert tips == ["no (n=13): 1.000", "yes (n=287): 0.740"]


def test_long_titles_wrap_instead_of_being_cut():
    title = "Mean |SHAP| of the features encoding foreign_worker, by foreign_worker group, with a long tail"
    svg = bar_chart(["a"], [1.0], title=title, width=360)
    lines = [(e.text or "") + "".join(c.tail or "" for c in e) for e in find(svg, "text") if e.get("class") == "title"]
    assert len(lines) >= 2 and " ".join(lines) == title


def test_bytes_are_shown_in_human_units():
    from audit.report.charts import human

    assert human(624400, "bytes") == "624 KB" and human(19203, "bytes") == "19.2 KB"
    assert human(2.5e6, "bytes") == "2.5 MB" and human(512, "bytes") == "512 bytes"
    svg = bar_chart(["logreg", "gbm"], [10384, 593181], unit="bytes", x_label="model size")
    assert "model size (KB)" in texts(svg)
    assert not any("e+" in t for t in texts(svg))


def test_ci_error_bars_present_only_when_given():
    svg = bar_chart(["a", "b", "c"], [0.5, 0.6, None], ci=[(0.4, 0.6), None, (0.1, 0.2)])
    assert len(find(svg, "path", "ci")) == 1  # 'c' has no bar, so no error bar either
    assert "CI 0.400 \u2013 0.600" in find(svg, "rect", "bar")[0].findtext(NS + "title")
    assert find(bar_chart(["a", "b"], [0.5, 0.6]), "path", "ci") == []


def test_ref_line_drawn_dashed_with_label():
    svg = bar_chart(["a"], [0.5], ref_line=0.8, ref_label="gate")
    (ref,) = find(svg, "line", "ref")
    assert ref.get("stroke-dasharray")
    assert "gate 0.800" in texts(svg)
    assert find(bar_chart(["a"], [0.5]), "line", "ref") == []


def test_grouped_bar_chart_counts_and_legend():
    series = {"m1": [0.1, 0.2, None], "m2": [0.3, float("nan"), 0.5], "m3": [0.1, 0.1, 0.1]}
    ci = {"m1": [(0.0, 0.2), (0.1, 0.3), None]}
    svg = grouped_bar_chart(["g1", "g2", "g3"], series, ci=ci, value_range=(0, 1))
    assert len(find(svg, "rect", "bar")) == 7
    assert len(find(svg, "rect", "swatch")) == 3
    assert len(find(svg, "path", "ci")) == 2
    assert texts(svg).count("n/a") == 2
    assert {"m1", "m2", "m3"} <= set(texts(svg))


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError):
        bar_chart(["a", "b"], [1.0])
    with pytest.raises(ValueError):
        grouped_bar_chart(["a"], {"m": [1.0, 2.0]})
    with pytest.raises(ValueError):
        line_chart({"s": ([1, 2], [1.0])})
    with pytest.raises(ValueError):
        line_chart({"s": ([1, 2], [1.0, 2.0])}, bands={"s": ([0.0], [1.0])})
    with pytest.raises(ValueError):
        heatmap([[1, 2]], row_labels=["r"], col_labels=["c"])


# --- lines --------------------------------------------------------------------------------------

def points(svg: str) -> list[ET.Element]:
    return [e for e in parse(svg).iter() if e.get("class") == "point"]


def test_line_chart_points_gaps_bands_and_diagonal():
    xs = [0.1, 0.3, 0.5, 0.7, 0.9]
    svg = line_chart({"a": (xs, [0.1, 0.3, None, 0.7, 0.9]), "b": (xs, [0.2] * 5)},
                     bands={"a": ([0.0] * 5, [1.0] * 5)}, value_range=(0, 1), diagonal=True)
    assert len(points(svg)) == 9
    lines = find(svg, "path", "line")
    assert len(lines) == 2
    assert lines[0].get("d").count("M") == 2  # the None breaks the line into two pieces
    assert lines[1].get("d").count("M") == 1
    assert len(find(svg, "polygon", "band")) == 1
    assert len(find(svg, "path", "diagonal")) == 1
    assert texts(svg).count("n/a") == 1
    assert len([e for e in parse(svg).iter() if e.get("class") == "swatch"]) == 2
    tip = points(svg)[1].findtext(NS + "title")
    assert tip == "a: x = 0.300, y = 0.300"


def test_overlapping_series_differ_in_dash_and_marker_not_only_colour():
    xs = [0.0, 0.1, 0.2]
    svg = line_chart({"fgsm": (xs, [0.7, 0.6, 0.5]), "pgd": (xs, [0.7, 0.6, 0.5]), "blackbox": (xs, [0.7, 0.6, 0.5])})
    dashes = [e.get("stroke-dasharray") for e in find(svg, "path", "line")]
    assert len(set(dashes)) == 3
    shapes = {(e.tag, e.get("d", "")[:1]) for e in points(svg)}
    assert len({tag for tag, _ in shapes}) >= 2


def test_dense_curves_are_thinned_and_counts_drawn():
    xs = [i / 999 for i in range(1000)]
    svg = line_chart({"roc": (xs, xs)}, dense=True, max_points=200)
    d = find(svg, "path", "line")[0].get("d")
    assert d.count("L") == 199 and len(points(svg)) <= 9
    cal = line_chart({"m": ([0.1, 0.5, 0.9], [0.2, 0.5, 0.8])}, counts={"m": [4, 120, 31]}, diagonal=True)
    assert len(find(cal, "rect", "count")) == 3 and {"4", "120", "31"} <= set(texts(cal))


def test_line_chart_without_diagonal_or_bands_draws_neither():
    svg = line_chart({"a": ([1, 2], [3, 4])})
    assert find(svg, "path", "diagonal") == [] and find(svg, "polygon", "band") == []


def test_line_chart_log_x_drops_non_positive_x():
    svg = line_chart({"a": ([0, 1, 10], [1.0, 2.0, 3.0])}, log_x=True)
    assert len(points(svg)) == 2


# --- heatmap ------------------------------------------------------------------------------------

def test_heatmap_cell_count_values_and_contrast():
    m = [[812, 43, 5], [61, 702, float("nan")]]
    svg = heatmap(m, row_labels=["cat", "dog"], col_labels=["cat", "dog", "bird"])
    cells = find(svg, "rect", "cell")
    assert len(cells) == 2 * 3
    shown = texts(svg)
    for v in ("812", "43", "5", "61", "702", "n/a"):
        assert v in shown
    by_value = {e[0].tail: e.get("fill") for e in find(svg, "text") if len(e)}
    assert by_value["812"] == "#ffffff"  # darkest cell gets white text
    assert by_value["5"] != "#ffffff"
    assert cells[0].get("fill") != cells[2].get("fill")


def test_heatmap_custom_format():
    svg = heatmap([[0.93, 0.07]], row_labels=["neg"], col_labels=["neg", "pos"], fmt="{:.1%}")
    assert "93.0%" in texts(svg) and "7.0%" in texts(svg)


# --- empty input --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "svg",
    [
        bar_chart([], [], title="t"),
        bar_chart(["a", "b"], [None, float("nan")]),
        grouped_bar_chart([], {}),
        grouped_bar_chart(["a"], {"m": [None]}),
        line_chart({}),
        line_chart({"s": ([1, 2], [None, None])}),
        heatmap([], row_labels=[], col_labels=[]),
    ],
)
def test_empty_inputs_give_small_no_data_svg(svg):
    parse(svg)
    assert "no data" in texts(svg)
    assert find(svg, "rect", "bar") == [] and find(svg, "circle", "point") == []
