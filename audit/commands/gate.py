"""``audit gate``: re-judge a finished run, for CI release gating.

The verdict of a run is recomputed from the metrics stored in ``results.json`` (never from a
model), either with the run's own gates or with another suite's gates (``--suite``), so a
pipeline can apply a stricter release policy to a run made elsewhere. Exit codes match
``audit run``: 0 pass, 1 a gate failed or errored (or warned, with ``--fail-on warn``), 2 bad
input. ``--summary-md`` appends a Markdown verdict table (for ``$GITHUB_STEP_SUMMARY``) and
``--junit`` writes JUnit XML for CI test reports.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "gate",
        help="re-judge a finished run's gates for CI (exit 0 pass, 1 fail, 2 bad input)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("results", metavar="RESULTS_JSON", help="a run's results.json, or the run folder holding it")
    parser.add_argument(
        "--suite",
        default=None,
        help="judge the stored metrics against this suite file's gates instead of the run's own",
    )
    parser.add_argument(
        "--fail-on",
        choices=("fail", "warn"),
        default="fail",
        help="exit 1 on failing gates (default) or on warnings too",
    )
    parser.add_argument(
        "--summary-md",
        metavar="FILE",
        default=None,
        help="append a Markdown verdict table to FILE ('-': stdout), e.g. \"$GITHUB_STEP_SUMMARY\"",
    )
    parser.add_argument("--junit", metavar="FILE", default=None, help="write the verdict as JUnit XML")
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the verdict as one JSON document (the console summary goes to stderr)",
    )
    parser.add_argument(
        "--quiet", "-q", action="store_true", help="print nothing but errors (and the JSON document with --json)"
    )
    parser.set_defaults(func=run)


def rejudge(results: Any, suite: Any = None) -> Any:
    """A copy of ``results`` with gates, status and exit code recomputed from its metrics."""
    from audit.gates import evaluate_gates, exit_code, overall_status
    from audit.suite import GateSpec

    if suite is not None:
        from audit.gates import _matches

        # the policy's own gates, and the default gates of its checks where the run measured them
        specs = [g for g in suite.effective_gates() if g in suite.gates or _matches(g.metric, results.metrics)]
    else:  # the run's own gates, as stored (one concrete metric path per outcome)
        specs = [
            GateSpec(metric=g.metric, op=g.op, threshold=g.threshold, on=g.on, severity=g.severity)
            for g in results.gates
        ]
    outcomes = evaluate_gates(specs, results.metrics, results.checks)
    errors = sum(record.status == "error" for record in results.checks)
    status = overall_status(outcomes, errors)
    return results.model_copy(update={"gates": outcomes, "status": status, "exit_code": exit_code(status)})


def _write(path: str, text: str, *, append: bool, what: str) -> None:
    from audit.errors import AuditError
    from audit.results import atomic_write_text

    if path == "-":
        sys.stdout.write(text)
        return
    target = Path(path)
    try:
        if append:
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("a", encoding="utf-8") as handle:
                handle.write(text + "\n")
        else:
            atomic_write_text(target, text)
    except OSError as exc:
        raise AuditError(f"{what} {path}: cannot write the file ({exc.strerror or exc})") from None


def run(args: argparse.Namespace) -> int:
    from audit.errors import ConfigError
    from audit.gates import exit_code
    from audit.report.console import summary
    from audit.report.junit import junit_xml
    from audit.report.markdown import verdict_markdown
    from audit.results import load_results

    if args.json and args.summary_md == "-":
        raise ConfigError("--json and --summary-md - both write to stdout; give --summary-md a file")
    source = Path(args.results)
    results = load_results(source)
    suite = None
    if args.suite:
        from audit.suite import load_suite

        suite = load_suite(args.suite)
        if suite.name != results.suite.get("name") and not args.quiet:
            print(
                f"audit gate: note: judging run of suite '{results.suite.get('name')}' with the gates of suite '{suite.name}'",
                file=sys.stderr,
            )
    judged = rejudge(results, suite)
    code = exit_code(judged.status, args.fail_on)
    if args.junit:
        _write(args.junit, junit_xml(judged), append=False, what="--junit")
    if args.summary_md:
        _write(args.summary_md, verdict_markdown(judged, fail_on=args.fail_on), append=True, what="--summary-md")
    run_dir = source if source.is_dir() else source.parent
    human = sys.stderr if args.json else sys.stdout  # with --json, stdout holds the JSON document only
    if not args.quiet and args.summary_md != "-":
        print(summary(judged, str(run_dir)), file=human)
        print(f"gate verdict: {judged.status.upper()} (fail on {args.fail_on}) -> exit {code}", file=human, flush=True)
    if args.json:
        from audit.commands.jsonout import dumps, verdict_document

        document = verdict_document("gate", judged, run_dir, fail_on=args.fail_on)
        document["gates_from"] = args.suite
        print(dumps(document))
    return code
