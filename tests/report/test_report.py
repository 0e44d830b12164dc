"""The HTML report: findings first (the credit report names the foreign_worker disparity), every
link resolves, the page stays under 2 MB whatever the data size, the standard plots draw, and the
ROC / PR points the performance check stores are scikit-learn's."""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from audit.report.html import MAX_BYTES, render_figure, render_html
from audit.results import results_from_raw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_findings import MANIFEST, run_dict  # noqa: E402


@pytest.mark.slow
def test_credit_report_opens_on_the_foreign_worker_disparity(credit_run):
    html = (credit_run.run_dir / "report.html").read_text()
    assert len(html.encode()) < MAX_BYTES
    start = html.index('<section id="findings"')
    first = html[start: html.index("</section>", start)]
    assert start < html.index("<h2>Gates</h2>")  # the findings come before everything but the verdict
    assert re.search(r"foreign_worker: predicted &#39;good&#39; \d+% for no \(13 of 13, too few to judge alone\)", first)
    assert "demographic parity difference" in first
    for target in set(re.findall(r'href="#([^"]+)"', html)):
        assert f'id="{target}"' in html, target  # every link of the findings and contents resolves
    assert "ROC curve (test)" in html and "Precision-recall curve (test)" in html
    assert "SHAP values of the top" in html and "Dependence:" in html and "Why row" in html
    assert "figure could not be drawn" not in html and "e+0" not in html


def huge_run() -> dict:
    """A run whose checks stored far more than a report can show: long curves, many categories,
    swarms of points, long tables, thousands of per-group metrics and many figures."""
    raw = run_dict()
    n = 50_000
    xs = np.linspace(0, 1, n).round(5).tolist()
    figures = [{"kind": "line", "title": f"curve {i}", "series": {"m": [xs, xs]}} for i in range(30)]
    figures.append({"kind": "bar", "title": "many groups", "labels": [f"g{i}" for i in range(5000)], "values": [0.5] * 5000})
    figures.append({"kind": "beeswarm", "title": "swarm", "features": [f"f{i}" for i in range(10)],
                    "shap": [xs[:20_000]] * 10, "colour": [[0.5] * 20_000] * 10})
    figures.append({"kind": "scatter", "title": "dependence", "x": xs, "y": xs})
    raw["checks"].append({"check": "explain", "model": "a", "pillar": "explain", "figures": figures,
                          "tables": {"big": [{"row": i, "value": i / 7} for i in range(100_000)]}})
    raw["metrics"] += [{"path": f"a/explain/importance[f{i}]", "value": 0.1, "model": "a", "check": "explain",
                        "metric": "importance", "group": f"f{i}", "n": 300} for i in range(20_000)]
    raw["manifest"] = MANIFEST
    return raw


def test_report_stays_under_2mb_whatever_the_data_size():
    html = render_html(results_from_raw(huge_run(), "x"))
    assert len(html.encode("utf-8")) < MAX_BYTES
    assert 'id="findings"' in html and ("first 100 shown" in html or "first 40 shown" in html)
    assert "all in results.json" in html


def _svg(spec: dict) -> ET.Element:
    out = render_figure(spec, None)
    assert "svg" in out, out
    return ET.fromstring(out["svg"])


def test_explanation_plots_draw_and_escape_their_text():
    bad = "<script>alert(1)</script>"
    swarm = _svg({"kind": "beeswarm", "title": bad, "features": [bad, "age"], "shap": [[0.1, -0.2], [0.3, 0.0]],
                  "colour": [[None, None], [0.0, 1.0]]})
    fall = _svg({"kind": "waterfall", "title": "row", "base": 0.9, "contributions": [[f"{bad} = 1", 0.5], ["age = 23", -0.3]],
                 "output": 1.1, "note": bad})
    dep = _svg({"kind": "scatter", "title": "dep", "x": [0, 1, 1], "y": [0.1, -0.1, 0.2], "categories": [bad, "b"]})
    for root in (swarm, fall, dep):
        assert not any(e.tag.endswith("script") for e in root.iter())
    labels = [("".join(e.itertext())) for e in fall.iter("{http://www.w3.org/2000/svg}text")]
    assert any("+0.500" in t for t in labels) and any("\u22120.300" in t for t in labels)  # the sign, not only the colour


def test_roc_and_pr_points_are_scikit_learns(tmp_path):
    from sklearn.metrics import precision_recall_curve, roc_auc_score, roc_curve

    from audit.checks.base import CheckResult
    from audit.checks.performance import CURVE_POINTS, curve_figures

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 5000)
    score = np.clip(0.3 * y + rng.uniform(0, 0.7, 5000), 0, 1)
    result = CheckResult("performance", "m")
    curve_figures(result, "m", y, score, {"roc_auc": roc_auc_score(y, score), "pr_auc": 0.9})
    roc, pr = result.figures
    fpr, tpr = roc["series"]["m"]
    assert len(fpr) <= CURVE_POINTS and (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    ref_fpr, ref_tpr, _ = roc_curve(y, score)
    pairs = set(zip(np.round(ref_fpr, 5), np.round(ref_tpr, 5), strict=True))
    assert all((a, b) in pairs for a, b in zip(fpr, tpr, strict=True))
    assert f"{roc_auc_score(y, score):.3f}" in roc["title"]
    precision, recall, _ = precision_recall_curve(y, score)
    got = set(zip(*pr["series"]["m"], strict=True))
    assert got <= set(zip(np.round(recall, 5), np.round(precision, 5), strict=True))
    assert "svg" in render_figure(roc, None) and "svg" in render_figure(pr, None)
