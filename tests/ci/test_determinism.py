"""Same suite, data and seed -> the same numbers: the credit suite twice, from fresh model caches."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from audit.engine import run_suite

CREDIT_SUITE = Path(__file__).resolve().parents[2] / "suites" / "credit.yaml"

TIMING = re.compile(r"seconds|_ms|throughput|memory")


def is_timing(path: str) -> bool:
    """Latency-type metrics measure the machine, not the model: excluded from the comparison."""
    return "/latency/" in path or bool(TIMING.search(path.split("/")[-1]))


def test_timing_filter():
    assert is_timing("gbm/latency/p95_ms") and is_timing("mlp/latency/throughput_rps[batch=32]")
    assert is_timing("m/explain/explain_seconds") and is_timing("m/x/peak_memory_bytes")
    assert not is_timing("gbm/performance/roc_auc") and not is_timing("gbm/fairness/tpr[sex=male]")


@pytest.mark.slow
def test_credit_suite_is_deterministic(credit_run, tmp_path, monkeypatch):
    """A second credit run, training every model again in an empty cache, repeats every number."""
    monkeypatch.setenv("AUDIT_CACHE_DIR", str(tmp_path / "fresh-cache"))
    again = run_suite(CREDIT_SUITE, output=tmp_path / "reports", log=None)
    assert all(info["cached"] is False for info in again.results.models.values())
    first = {m.path: m for m in credit_run.results.metrics}
    second = {m.path: m for m in again.results.metrics}
    assert sorted(first) == sorted(second)
    compared = [p for p in first if not is_timing(p)]
    differ = [
        p for p in compared if (first[p].value, first[p].ci, first[p].n) != (second[p].value, second[p].ci, second[p].n)
    ]
    assert differ == [], f"{len(differ)} of {len(compared)} metrics differ, e.g. {differ[:5]}"
    assert len(compared) > 1000  # every pillar of the credit suite, not a handful
    assert [(g.metric, g.status) for g in again.results.gates if not is_timing(g.metric)] == [
        (g.metric, g.status) for g in credit_run.results.gates if not is_timing(g.metric)
    ]
