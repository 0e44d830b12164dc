"""Each check declares the metric names it can produce; suite validation relies on the list being complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.checks.base import metric_specs
from audit.registry import CHECKS
from audit.suite import load_suite

ROOT = Path(__file__).resolve().parents[1]


IMPLEMENTATIONS = CHECKS.implementations()


@pytest.mark.parametrize("name,modality,variant,cls", IMPLEMENTATIONS, ids=[f"{n}-{m}-{v}" for n, m, v, _ in IMPLEMENTATIONS])
def test_every_builtin_check_declares_its_metrics(name, modality, variant, cls):
    declared = cls.metrics
    names = list(metric_specs(cls))
    assert declared and len(names) == len(declared) and all(isinstance(m, str) and m for m in names)
    assert cls.pillar_name() == name  # results carry the pillar the suite names


def test_the_credit_run_produces_only_declared_metrics(credit_run):
    by_id = {cls.name: cls for _, _, _, cls in IMPLEMENTATIONS}
    ran = {(r.model, r.check): by_id[r.implementation] for r in credit_run.results.checks}
    undeclared = {
        (m.check, m.metric) for m in credit_run.results.metrics if m.metric not in metric_specs(ran[(m.model, m.check)])
    }
    assert undeclared == set()
    assert {r.implementation for r in credit_run.results.checks} >= {"privacy_membership", "privacy_anonymity"}


@pytest.mark.parametrize("suite", ["credit", "digits", "sentiment", "credit_federated"])
def test_shipped_suites_gates_pass_validation(suite):
    assert load_suite(ROOT / "suites" / f"{suite}.yaml").gates
