"""The README's "Audit your own model" walk-through works as written (examples/own_model)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "own_model"


@pytest.mark.slow
def test_own_model_example_runs_and_validates(tmp_path: Path) -> None:
    from audit.engine import run_suite
    from audit.validation import validate_suite

    spec = importlib.util.spec_from_file_location("make_files", EXAMPLE / "make_files.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path / "files")
    shutil.copy(EXAMPLE / "suite.yaml", tmp_path / "suite.yaml")
    _, problems = validate_suite(tmp_path / "suite.yaml")
    assert problems == []
    out = run_suite(tmp_path / "suite.yaml", output=tmp_path / "reports", log=None)
    assert out.exit_code == 0, [(g.expression, g.status) for g in out.results.gates]
    records = {(r.model, r.check): r for r in out.results.checks}
    assert records[("vendor", "explain")].status == "skipped"
    assert records[("forest", "explain")].status in ("ok", "warn")
    assert out.results.manifest["rows"] == {"train": 700, "test": 300, "reference": 300}
    assert {m.path for m in out.results.metrics} >= {"vendor/performance/roc_auc", "linear/fairness/demographic_parity_difference[foreign_worker]", "forest/integrity/trained_on_test"}


@pytest.mark.slow
def test_readme_python_api_snippet_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("```python\nimport pandas as pd\nfrom sklearn.compose import make_column_transformer")
    code = text[start + len("```python\n"): text.index("```", start + 10)]
    spec = importlib.util.spec_from_file_location("make_files", EXAMPLE / "make_files.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path / "examples" / "own_model" / "files")
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - the README's own example
    result = scope["result"]
    assert result.status == "pass" and (tmp_path / "reports" / "notebook").is_dir()
    assert scope["again"].metric("model/performance/roc_auc") == result.metric("model/performance/roc_auc")
