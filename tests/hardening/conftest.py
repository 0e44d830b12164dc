"""Fixtures for the hardening tests (helpers live in hardening_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hardening_helpers import write_case


@pytest.fixture
def case(tmp_path: Path):
    """``case(frame, **keys)`` -> suite path in a fresh temp folder."""
    counter = {"n": 0}

    def make(frame: pd.DataFrame, **keys) -> Path:
        counter["n"] += 1
        return write_case(tmp_path / f"case{counter['n']}", frame, **keys)

    return make
