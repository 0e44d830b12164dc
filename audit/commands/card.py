"""``audit card RUN [-o FILE]``: write a Markdown model card from a finished run's results.json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "card",
        help="write a Markdown model card from a finished run",
        description="Write a Markdown model card (intended use, data, metrics with intervals, gates, fairness, "
        "robustness and shift findings, limitations, provenance) from a run's results.json alone.",
    )
    parser.add_argument("run", metavar="RUN", help="a run folder (or its results.json)")
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        default=None,
        help="where to write the card (default: RUN/model_card.md; '-': stdout)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from audit.card import render_card
    from audit.errors import AuditError
    from audit.results import atomic_write_text, load_results

    source = Path(args.run)
    results = load_results(source)
    text = render_card(results)
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    target = Path(args.output) if args.output else (source if source.is_dir() else source.parent) / "model_card.md"
    try:
        atomic_write_text(target, text)
    except OSError as exc:
        raise AuditError(f"{target}: cannot write the model card ({exc.strerror or exc})") from None
    print(f"model card written to {target}")
    return 0
