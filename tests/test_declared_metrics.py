"""Each check declares the metric names it can produce; suite validation relies on the list being complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.registry import CHECKS
from audit.suite import load_suite

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", CHECKS.names())
def test_every_builtin_check_declares_its_metrics(name):
    metrics = CHECKS.get(name).metrics
    assert metrics and len(set(metrics)) == len(metrics) and all(isinstance(m, str) and m for m in metrics)


def test_the_credit_run_produces_only_declared_metrics(credit_run):
    undeclared = {
        (m.check, m.metric) for m in credit_run.results.metrics if m.metric not in CHECKS.get(m.check).metrics
    }
    assert undeclared == set()


@pytest.mark.parametrize("suite", ["credit", "digits", "sentiment"])
def test_shipped_suites_gates_pass_validation(suite):
    assert load_suite(ROOT / "suites" / f"{suite}.yaml").gates
