"""Fixtures for the dashboard tests: small hand-made runs, and a reports folder of real credit runs.

``credit_reports`` holds the real credit run (unchanged) plus a later "candidate" copy in which
``logreg/performance/roc_auc`` dropped to 0.60 [0.55, 0.65] and its gate fails, and a hidden
``.partial`` folder that must never be listed. The candidate is the newest run, so the Runs page
must report FAIL and name that gate.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from dashboard_helpers import CANDIDATE_ID, DROPPED


def _candidate(real: Path, target: Path) -> None:
    """A copy of the real run whose logreg ROC AUC dropped and whose gate on it fails."""
    shutil.copytree(real, target)
    raw: dict[str, Any] = json.loads((target / "results.json").read_text())
    raw["run_id"] = target.name
    raw["created_at"] = "2999-01-01T00:00:00+00:00"
    for m in raw["metrics"]:
        if m["path"] == DROPPED:
            m["value"], m["ci"] = 0.60, [0.55, 0.65]
    for g in raw["gates"]:
        if g["metric"] == DROPPED:
            g.update(status="fail", observed=0.60, message="0.6 breaches >= 0.7")
    raw["status"], raw["exit_code"] = "fail", 1
    (target / "results.json").write_text(json.dumps(raw))


@pytest.fixture(scope="session")
def credit_reports(credit_run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dash-reports")
    suite = root / "credit"
    shutil.copytree(credit_run.run_dir, suite / credit_run.run_dir.name)
    _candidate(credit_run.run_dir, suite / CANDIDATE_ID)
    hidden = suite / f".{CANDIDATE_ID[:-1]}9.partial"
    hidden.mkdir()
    (hidden / "results.json").write_text("{}")
    return root


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch):
    """``app_env(root)`` points the app at a reports folder for this test."""

    def use(root: Path) -> None:
        monkeypatch.setenv("AUDIT_REPORTS_DIR", str(root))

    return use


@pytest.fixture
def fresh_caches():
    """Streamlit's caches live for the process: a test using this starts from empty ones."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()
