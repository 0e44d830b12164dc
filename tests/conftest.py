"""Shared fixtures: an isolated model cache, a real credit-suite run, small synthetic suites."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CREDIT_SUITE = ROOT / "suites" / "credit.yaml"


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Trained artefacts go to a per-session cache so tests never read a stale developer cache,
    sealed with a per-session key so tests never touch the developer's own key."""
    os.environ["AUDIT_CACHE_DIR"] = str(tmp_path_factory.mktemp("audit-cache"))
    os.environ["AUDIT_CONFIG_DIR"] = str(tmp_path_factory.mktemp("audit-config"))
    os.environ.pop("AUDIT_CACHE_KEY", None)


@pytest.fixture(scope="session")
def credit_run(tmp_path_factory: pytest.TempPathFactory):
    """One real run of suites/credit.yaml (the shipped suite, unchanged); returns its RunOutcome."""
    from audit.engine import run_suite

    out = tmp_path_factory.mktemp("credit-reports")
    return run_suite(CREDIT_SUITE, output=out, log=None)


def write_suite(folder: Path, frame, *, name: str = "synthetic", data: dict | None = None, models: list | None = None, checks: list | None = None, gates: list | None = None, seed: int = 0, integrity: bool = False) -> Path:
    """Write ``frame`` as CSV and a suite YAML using it; returns the suite path.

    The implicit integrity pillar is off unless asked for, so a test sees exactly its checks."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "data.csv", index=False)
    suite = {
        "version": 1,
        "name": name,
        "seed": seed,
        "data": {"path": "data.csv", "target": "y", **(data or {})},
        "models": models or [{"name": "lr", "recipe": "logistic_regression"}],
        "checks": checks or [{"name": "performance", "params": {"bootstrap": 100}}],
        "gates": gates or [],
        "output": {"dir": str(folder / "reports")},
        "integrity": integrity,
    }
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


@pytest.fixture
def suite_writer(tmp_path: Path):
    """``suite_writer(frame, **keys)`` -> path of a suite file over ``frame`` in a temp folder."""

    def make(frame, **keys):
        return write_suite(tmp_path, frame, **keys)

    return make


@pytest.fixture(scope="session")
def write_suite_fn():
    """``write_suite`` for fixtures of wider scope (``from conftest import`` is ambiguous: several exist)."""
    return write_suite
