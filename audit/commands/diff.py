"""``audit diff RUN_A RUN_B``: what changed between two runs, and did a gated metric regress.

Exit 0 when no gated metric of run B regressed (non-overlapping intervals, in the worse
direction) or lost its value; 1 when one did; 2 on bad input or when the runs are not comparable
(another suite, data, test rows or seed; ``--allow-incomparable`` judges them anyway). See
``audit.diff``.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "diff",
        help="compare two runs' metrics; exit 1 when a gated metric regressed",
        description="List every metric that changed between run A (before) and run B (after), flag "
        "regressions whose 95% intervals do not overlap, and exit 1 when a metric judged by one of "
        "run B's gates regressed. The runs are first checked to be comparable (same suite, data, test rows "
        "and seed); when they are not, the output says what differs and gives no verdict (exit 2) unless "
        "--allow-incomparable is given. The output leads with a summary (verdict change, gates that "
        "changed status, the largest moves beyond their intervals), then every change.",
    )
    parser.add_argument("run_a", metavar="RUN_A", help="the earlier run (folder or results.json)")
    parser.add_argument("run_b", metavar="RUN_B", help="the later run (folder or results.json)")
    parser.add_argument("--json", action="store_true", help="print the diff as one JSON document")
    parser.add_argument(
        "--allow-incomparable",
        action="store_true",
        help="judge regressions even when the runs differ in suite, data, test rows or seed",
    )
    parser.add_argument(
        "--timing-blocks",
        action="store_true",
        help="let a gated timing metric (latency in ms, throughput) that regressed block too; off by default "
        "because timings move with the machine and its load, beyond what their intervals resample",
    )
    parser.add_argument(
        "--summary-md",
        metavar="FILE",
        default=None,
        help="append the summary as Markdown to FILE ('-': stdout), e.g. for a pull-request comment",
    )
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
    from audit.commands.gate import _write
    from audit.diff import NOT_COMPARABLE, diff_runs, format_text, summarise
    from audit.errors import ConfigError
    from audit.report.markdown import diff_markdown
    from audit.results import load_results

    if args.json and args.summary_md == "-":
        raise ConfigError("--json and --summary-md - both write to stdout; give --summary-md a file")
    run_a, run_b = load_results(args.run_a), load_results(args.run_b)
    changes = diff_runs(run_a, run_b, threshold=args.threshold)
    report = summarise(
        changes,
        run_a,
        run_b,
        args.threshold,
        allow_incomparable=args.allow_incomparable,
        timing_blocks=args.timing_blocks,
    )
    if args.summary_md:
        _write(args.summary_md, diff_markdown(report), append=True, what="--summary-md")
    if args.json:
        from audit.commands.jsonout import dumps

        print(dumps({"command": "diff", **report}))
    elif args.summary_md != "-":
        print(format_text(report))
    if report["exit_code"] == NOT_COMPARABLE:
        print(
            "audit: error: the runs are not comparable (" + "; ".join(report["differences"]) + "); "
            "pass --allow-incomparable to judge them anyway",
            file=sys.stderr,
        )
    return int(report["exit_code"])
