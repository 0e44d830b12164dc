"""Shared fixtures: an isolated model cache, a real credit-suite run, small synthetic suites."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CREDIT_SUITE = ROOT / "suites" / "credit.yaml"


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Trained artefacts go to a per-session cache so tests never read a stale developer cache."""
    os.environ["AUDIT_CACHE_DIR"] = str(tmp_path_factory.mktemp("audit-cache"))


@pytest.fixture(scope="session")
def credit_run(tmp_path_factory: pytest.TempPathFactory):
    """One real run of suites/credit.yaml (the shipped suite, unchanged); returns its RunOutcome."""
    from audit.engine import run_suite

    out = tmp_path_factory.mktemp("credit-reports")
    return run_suite(CREDIT_SUITE, output=out, log=None)
