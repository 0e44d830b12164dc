"""Privacy-utility sweep: the credit MLP trained with DP-SGD (Opacus) at several epsilons.

For each epsilon (and without DP) it trains the suite's MLP, runs performance, fairness and the
membership-inference privacy check, and prints accuracy, the largest fairness gap (demographic
parity and equalized odds, the attribute named), the membership-attack AUC and the epsilon the
accountant reports. DP's known cost to small groups shows in the fairness columns. Usage:

    .venv/bin/python benchmarks/privacy_sweep.py [--epsilons 0.5 1 4 16] [--epochs 15] [--dp-learning-rate 0.01]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def sweep_suite(epsilons: list[float], epochs: int, dp_learning_rate: float) -> dict:
    raw = yaml.safe_load((ROOT / "suites" / "credit.yaml").read_text())
    mlp = next(m for m in raw["models"] if m["recipe"] == "credit_mlp")
    models = [{"name": "mlp", "recipe": "credit_mlp", "params": {**mlp["params"], "epochs": epochs}}]
    for eps in epsilons:
        name = f"mlp_dp{eps:g}".replace(".", "_")
        # DP-SGD's clipped, noised steps need a larger learning rate than plain Adam's default
        params = {**mlp["params"], "epochs": epochs, "learning_rate": dp_learning_rate, "dp": {"epsilon": eps}}
        models.append({"name": name, "recipe": "credit_mlp", "params": params})
    raw.update(
        name="privacy_sweep",
        models=models,
        checks=[
            {"name": "performance", "params": {"bootstrap": 200, "slices": False}},
            {"name": "fairness", "params": {"bootstrap": 200}},
            {"name": "privacy", "params": {"bootstrap": 200}},
        ],
        gates=[],
    )
    return raw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epsilons", type=float, nargs="+", default=[0.5, 1.0, 4.0, 16.0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--dp-learning-rate", type=float, default=0.01)
    args = parser.parse_args()
    from audit.engine import run_suite
    from audit.suite import parse_suite

    suite = parse_suite(sweep_suite(args.epsilons, args.epochs, args.dp_learning_rate), "privacy_sweep")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("AUDIT_CACHE_DIR", str(Path(tmp) / "cache"))
        start = time.perf_counter()
        outcome = run_suite(suite, output=Path(tmp) / "reports", log=None)
        seconds = time.perf_counter() - start
    r = outcome.results
    flat = {m.path: m for m in r.metrics}
    print(f"{'model':14s} {'epsilon':>9s} {'accuracy':>9s} {'max DPD':>16s} {'max EOD':>16s} {'MIA AUC':>8s}")
    def worst(model: str, metric: str) -> str:
        found = [(m.value, m.group) for m in r.metrics if m.model == model and m.metric == metric and m.value is not None and m.group]
        if not found:
            return "-"
        value, group = max(found)
        return f"{value:.3f} ({group})"

    for name, info in r.models.items():
        spent = (info.get("dp") or {}).get("epsilon_spent")

        acc = flat.get(f"{name}/performance/accuracy")
        mia = flat.get(f"{name}/privacy/mia_auc")
        print(
            f"{name:14s} {f'{spent:.2f}' if spent is not None else 'no DP':>9s} "
            f"{acc.value if acc and acc.value is not None else float('nan'):9.3f} "
            f"{worst(name, 'demographic_parity_difference'):>16s} {worst(name, 'equalized_odds_difference'):>16s} "
            f"{mia.value if mia and mia.value is not None else float('nan'):8.3f}"
        )
    print(f"whole sweep: {seconds:.1f} s ({len(r.models)} models)")


if __name__ == "__main__":
    main()
