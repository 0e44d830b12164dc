"""The console summary printed at the end of a run: verdict, gates, headline metrics."""

from __future__ import annotations

from audit.results import RunResults

HEADLINE = ("accuracy", "roc_auc", "f1", "ece")
DISPARITY = "demographic_parity_difference"


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def summary(results: RunResults, run_dir: str) -> str:
    lines = [f"\n{'=' * 72}", f"audit {results.suite['name']} · run {results.run_id} · verdict: {results.status.upper()}", "=" * 72]
    if results.gates:
        lines.append("Gates")
        for gate in results.gates:
            lines.append(f"  {gate.status.upper():5}  {gate.expression}   ({gate.message})")
    else:
        lines.append("Gates: none declared (the verdict reflects check errors only)")
    flat = {m.path: m for m in results.metrics}
    models = list(results.models)
    cols = [*HEADLINE, "max DPD"]
    lines.append("")
    lines.append(f"{'model':<16}" + "".join(f"{c:>20}" for c in cols))
    for model in models:
        cells = []
        for metric in HEADLINE:
            m = flat.get(f"{model}/performance/{metric}") or flat.get(f"{model}/performance/macro_{metric}")
            cells.append(_fmt(m.value) + (f" [{m.ci[0]:.2f},{m.ci[1]:.2f}]" if m and m.ci else "") if m else "-")
        dpd = [m.value for m in results.metrics if m.model == model and m.metric == DISPARITY and m.value is not None]
        cells.append(_fmt(max(dpd)) if dpd else "-")
        lines.append(f"{model:<16}" + "".join(f"{c:>20}" for c in cells))
    errors = [r for r in results.checks if r.status == "error"]
    for record in errors:
        lines.append(f"ERROR  {record.model}/{record.check}: {record.error}")
    n_warn = sum(len(r.warnings) for r in results.checks)
    if n_warn:
        lines.append(f"{n_warn} warnings (small groups, undefined metrics): see the report")
    lines.append(f"\nrun folder: {run_dir}")
    lines.append(f"total {results.manifest['timings_s'].get('total', 0):.1f}s")
    return "\n".join(lines)
