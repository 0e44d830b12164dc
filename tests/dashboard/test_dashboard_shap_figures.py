"""The dashboard draws the explain check's SHAP figure kinds (beeswarm, dependence, waterfall)
from the specs the credit run stored, with the values the specs hold."""

from __future__ import annotations

import json

import pytest

from audit.dashboard.figures import to_plotly

pytestmark = pytest.mark.slow


def test_the_credit_runs_shap_figures_are_drawn(credit_run):
    run_dir = credit_run.run_dir
    results = json.loads((run_dir / "results.json").read_text())
    specs = [f for c in results["checks"] if c["check"] == "explain" for f in c["figures"] if f["kind"] in ("beeswarm", "scatter", "waterfall")]
    assert {s["kind"] for s in specs} == {"beeswarm", "scatter", "waterfall"}
    for spec in specs:
        rendered = to_plotly(spec, run_dir)
        assert rendered.kind == "plotly", (spec["kind"], rendered.error)
        fig = rendered.figure
        if spec["kind"] == "beeswarm":  # one trace per feature, its dots at the stored SHAP values
            assert [list(t.x) for t in fig.data] == [list(v) for v in spec["shap"]]
        elif spec["kind"] == "scatter":
            assert list(fig.data[0].y) == spec["y"]
        else:  # base, each contribution, the output: the bars add up to the stored output
            x = list(fig.data[0].x)
            assert x[0] == spec["base"] and x[-1] == spec["output"]
            assert x[0] + sum(x[1:-1]) == pytest.approx(spec["output"], abs=1e-4)
