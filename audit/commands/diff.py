"""``audit diff RUN_A RUN_B``: what changed between two runs, and did a gated metric regress.

Exit 0 when no gated metric of run B regressed (non-overlapping intervals, in the worse
direction) or lost its value; 1 when one did; 2 on bad input. See ``audit.diff``.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "diff",
        help="compare two runs' metrics; exit 1 when a gated metric regressed",
        description="List every metric that changed between run A (before) and run B (after), flag "
        "regressions whose 95%% intervals do not overlap, and exit 1 when a metric judged by one of "
        "run B's gates regressed.",
    )
    parser.add_argument("run_a", metavar="RUN_A", help="the earlier run (folder or results.json)")
    parser.add_argument("run_b", metavar="RUN_B", help="the later run (folder or results.json)")
    parser.add_argument("--json", action="store_true", help="print the diff as JSON")
    parser.add_argument(
        "--threshold", type=_non_negative, default=0.0, help="minimum absolute change to report (default 0: any change)"
    )
    parser.set_defaults(func=run)


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    from audit.diff import diff_runs, format_text, summarise
    from audit.results import load_results

    run_a, run_b = load_results(args.run_a), load_results(args.run_b)
    changes = diff_runs(run_a, run_b, threshold=args.threshold)
    report = summarise(changes, run_a, run_b, args.threshold)
    print(json.dumps(report, indent=1) if args.json else format_text(report))
    return int(report["exit_code"])
