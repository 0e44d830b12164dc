"""`audit validate` and `audit --help` do not import pandas, torch, sklearn or scipy (issue 13)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("pandas", "torch", "sklearn", "scipy", "shap", "transformers", "rich")


@pytest.mark.parametrize("suite", ["credit.yaml", "digits.yaml", "sentiment.yaml", "credit_federated.yaml"])
def test_validate_imports_nothing_heavy(suite: str) -> None:
    code = (
        "import sys\n"
        "from audit.cli import main\n"
        f"code = main(['validate', '--no-data', {str(ROOT / 'suites' / suite)!r}])\n"
        f"loaded = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(code, loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip().splitlines()[-1] == "0 []", out.stdout + out.stderr


def test_help_imports_nothing_heavy() -> None:
    code = "import sys\nfrom audit.cli import build_parser\nbuild_parser()\nprint([m for m in sys.modules if m.split('.')[0] in ('pandas', 'numpy', 'torch', 'sklearn', 'pydantic')])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
