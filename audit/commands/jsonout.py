"""The ``--json`` documents of ``audit run``, ``gate``, ``validate`` and ``list``.

With ``--json`` a command writes exactly one JSON object on stdout (UTF-8, no NaN: an undefined
number is ``null``) and its human text on stderr (or nowhere with ``-q``), so
``audit run suite.yaml --json | jq -r .run_dir`` is safe. Every document carries ``command``
and ``exit_code`` (the process's exit status). The shapes:

``run`` and ``gate`` (a verdict document)::

    {"command": "run", "suite": "credit", "run_id": "...", "run_dir": "reports/credit/<run id>",
     "results": ".../results.json", "report": ".../report.html" | null,
     "verdict": "pass" | "warn" | "fail" | "error", "fail_on": "fail" | "warn", "exit_code": 0,
     "counts": {"gates": {"pass": 30, "warn": 2, "fail": 0, "error": 0, "skipped": 0},
                "checks": {"ok": 10, "warn": 12, "error": 0, "skipped": 2},
                "metrics": 1544, "warnings": 26},
     "gates": [{"expression", "metric", "status", "severity", "observed", "op", "threshold",
                "on", "message"}, ...],          # worst first
     "errors": [{"model", "check", "error"}, ...],  # checks that raised
     "findings": [{"rank", "severity", "pillar", "model", "title", "metric", "value", "ci",
                   "n", "anchor", "gated"}, ...]}  # the top 5 of audit.findings

``gate`` adds ``"gates_from"``: the suite file whose gates judged the run (null: its own).

``validate``: ``{"command": "validate", "suite_file", "valid": bool, "exit_code": 0 | 2,
"name", "models", "checks", "gates", "data_files_checked", "warnings": [...],
"problems": [{"file", "key", "message"}, ...]}``.

``list``: ``{"command": "list", "exit_code": 0, "checks": [{"name", "variant", "modalities",
"params": {name: {"default", "required"}}}], "recipes": [{"name", "params"}], "datasets": [...]}``.

On bad input (exit 2) every command with ``--json`` still writes one object:
``{"command", "exit_code": 2, "error": "<the message printed on stderr>"}``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

GATE_ORDER = {"error": 0, "fail": 1, "warn": 2, "pass": 3, "skipped": 4}
TOP_FINDINGS = 5


def clean(value: Any) -> Any:
    """Plain JSON values: non-finite floats become null, tuples lists, dataclasses dicts."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if is_dataclass(value) and not isinstance(value, type):
        return clean(asdict(value))
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(clean(document), indent=2, ensure_ascii=False, allow_nan=False, default=str)


def top_findings(results: Any, limit: int = TOP_FINDINGS) -> list[Any]:
    """``audit.findings.findings(results, limit=...)``: the ranked list every renderer leads with."""
    from audit.findings import findings

    return findings(results, limit=limit)


def verdict_document(command: str, results: Any, run_dir: Path, *, fail_on: str) -> dict[str, Any]:
    """What ``run --json`` and ``gate --json`` print: verdict, exit code, folder, gates, counts."""
    from audit.gates import exit_code

    gates = sorted(results.gates, key=lambda g: GATE_ORDER.get(g.status, 9))
    report = run_dir / "report.html"
    return {
        "command": command,
        "suite": results.suite.get("name"),
        "run_id": results.run_id,
        "run_dir": str(run_dir),
        "results": str(run_dir / "results.json"),
        "report": str(report) if report.is_file() else None,
        "verdict": results.status,
        "fail_on": fail_on,
        "exit_code": exit_code(results.status, fail_on),
        "counts": {
            "gates": {
                s: sum(g.status == s for g in results.gates) for s in ("pass", "warn", "fail", "error", "skipped")
            },
            "checks": {s: sum(c.status == s for c in results.checks) for s in ("ok", "warn", "error", "skipped")},
            "metrics": len(results.metrics),
            "warnings": sum(len(c.warnings) for c in results.checks),
        },
        "gates": [
            {
                "expression": g.expression,
                "metric": g.metric,
                "status": g.status,
                "severity": g.severity,
                "observed": g.observed,
                "op": g.op,
                "threshold": g.threshold,
                "on": g.on,
                "message": g.message,
            }
            for g in gates
        ],
        "errors": [
            {"model": c.model, "check": c.check, "error": c.error} for c in results.checks if c.status == "error"
        ],
        "findings": top_findings(results),
    }


def error_document(command: str, message: str, code: int) -> dict[str, Any]:
    return {"command": command, "exit_code": code, "error": message}


def validate_document(suite_file: str, suite: Any, problems: list[Any], *, data_files: bool) -> dict[str, Any]:
    """``validate --json``: whether the suite is valid, what it declares, every problem."""
    valid = not problems and suite is not None
    files = (len(suite.data.files()) + sum(m.predictions is not None for m in suite.models)) if valid else 0
    return {
        "command": "validate",
        "suite_file": suite_file,
        "valid": valid,
        "exit_code": 0 if valid else 2,
        "name": suite.name if valid else None,
        "models": len(suite.models) if valid else None,
        "checks": len(suite.checks) if valid else None,
        "gates": len(suite.gates) if valid else None,
        "data_files_checked": files if data_files else 0,
        "warnings": list(suite.deprecations) if valid else [],
        "problems": [{"file": p.file, "key": p.key, "message": p.message} for p in problems],
    }


def list_document(checks: Any, recipes: Any, datasets: Any) -> dict[str, Any]:
    """``list --json``: every check (with its variants and modalities), recipe and dataset, with parameters."""
    shown: dict[tuple[str, str, Any], list[str]] = {}
    for name, modality, variant, cls in checks.implementations():
        shown.setdefault((name, variant, cls), []).append(modality)
    return {
        "command": "list",
        "exit_code": 0,
        "checks": [
            {"name": name, "variant": variant, "modalities": modalities, "params": _params(cls.Params)}
            for (name, variant, cls), modalities in shown.items()
        ],
        "recipes": [{"name": name, "params": _params(recipes.get(name).Params)} for name in recipes.names()],
        "datasets": list(datasets.names()),
    }


def _params(params: Any) -> dict[str, dict[str, Any]]:
    """A Params model's fields: {name: {"required": bool, "default": JSON value or null}}."""
    out: dict[str, dict[str, Any]] = {}
    for name, field in params.model_fields.items():
        required = field.is_required()
        default = None if required else field.get_default(call_default_factory=True)
        if hasattr(default, "model_dump"):
            default = default.model_dump(mode="json")
        out[field.alias or name] = {"required": required, "default": default}
    return out
