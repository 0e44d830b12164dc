"""Helpers for the hardening tests: in-process CLI calls that capture output and exit codes."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pandas as pd
import yaml


def invoke(args: list[str]) -> tuple[int, str, str]:
    """``audit.cli.main(args)`` in this process: (exit code, stdout, stderr).

    Anything but a clean return or SystemExit propagates, so an unhandled exception (a
    traceback for the user) fails the calling test with the full stack.
    """
    from audit.cli import main

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
    except SystemExit as exc:  # argparse usage errors
        code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def assert_clean_exit(code: int, err: str, allowed: tuple[int, ...] = (0, 2)) -> None:
    assert code in allowed, f"exit {code}: {err[-2000:]}"
    assert "Traceback" not in err, err[-3000:]
    if code == 2:
        assert err.strip(), "exit 2 without a message"
        last = err.strip().splitlines()
        assert any(line.startswith(("audit: error:", "usage:", "audit ")) for line in last), err[-2000:]


def tabular_frame(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.choice(["a", "b"], n)
    x = rng.normal(size=n)
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-(x + (g == "a")))), "yes", "no")
    return pd.DataFrame(
        {"x": x.round(5), "z": rng.normal(size=n).round(5), "cat": rng.choice(["u", "v", "w"], n), "g": g, "y": y}
    )


def write_case(
    folder: Path,
    frame: pd.DataFrame,
    *,
    data: dict | None = None,
    models: list | None = None,
    checks: list | None = None,
    files: dict | None = None,
    **extra,
) -> Path:
    """A suite over ``frame`` (plus extra files, e.g. model files) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "data.csv", index=False)
    for name, content in (files or {}).items():
        (folder / name).write_bytes(content)
    suite = {
        "version": 1,
        "name": "case",
        "seed": 1,
        "data": {"path": "data.csv", "target": "y", "positive_label": "yes", "sensitive": ["g"], **(data or {})},
        "models": models or [{"name": "lr", "recipe": "logistic_regression"}],
        "checks": checks
        or [{"name": "performance", "params": {"bootstrap": 50}}, {"name": "fairness", "params": {"bootstrap": 50}}],
        "output": {"dir": str(folder / "reports")},
        **extra,
    }
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False, allow_unicode=True))
    return path
