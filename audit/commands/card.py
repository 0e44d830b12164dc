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
        description="Write a Markdown model card from a run's results.json alone: Hugging Face YAML front "
        "matter (tags, metrics, model-index), key figures (verdict, headline metrics with intervals, the "
        "largest disparities, what to look at first), then intended use, data, metrics, gates, fairness, "
        "robustness, privacy and integrity findings, limitations and provenance. Paths are shown relative "
        "to the working folder, never as absolute local paths.",
    )
    parser.add_argument("run", metavar="RUN", help="a run folder (or its results.json)")
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        default=None,
        help="where to write the card (default: RUN/model_card.md; '-': stdout)",
    )
    parser.add_argument(
        "--model", default=None, help="a card for this one model of the run (a Hugging Face repository holds one model)"
    )
    parser.add_argument(
        "--license", default=None, help="license id for the front matter, e.g. apache-2.0 (the run does not record one)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from audit.card import render_card
    from audit.errors import AuditError
    from audit.results import atomic_write_text, load_results

    source = Path(args.run)
    results = load_results(source)
    text = render_card(results, model=args.model, license=args.license)
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
