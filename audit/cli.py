"""Command line: ``audit run | validate | schema | list``.

Only argparse is imported at module level, so ``audit --help`` stays instant and never loads
torch, shap or transformers. User mistakes (``AuditError``) print one message and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence

# Further commands live in their own modules, each with ``register(subparsers)`` that adds the
# parser and sets ``func``; these modules import only the standard library at top level.
COMMAND_MODULES: list[str] = [
    # CI gating commands (gate, diff, card) below this line
    "audit.commands.gate",
    "audit.commands.diff",
    "audit.commands.card",
    # dashboard command below this line
    "audit.commands.dashboard",
]


def _cmd_run(args: argparse.Namespace) -> int:
    from audit.engine import run_suite
    from audit.errors import ConfigError
    from audit.gates import exit_code
    from audit.report.console import summary

    if args.suite is None and args.resume is None:
        raise ConfigError("audit run needs a suite file (or --resume RUN_DIR)")
    if args.output is not None and args.resume is None:
        from audit.validation import output_dir_error

        problem = output_dir_error(args.output)
        if problem is not None:
            raise ConfigError(f"--output: {problem}")
    outcome = run_suite(args.suite, output=args.output, seed=args.seed, log=None if args.quiet else _log, resume=args.resume)
    print(summary(outcome.results, str(outcome.run_dir)))
    return exit_code(outcome.results.status, args.fail_on)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _cmd_validate(args: argparse.Namespace) -> int:
    from audit.suite import load_suite

    suite = load_suite(args.suite)
    for note in suite.deprecations:
        _log(f"audit: warning: {note}")
    print(f"{args.suite}: valid suite '{suite.name}' ({len(suite.models)} models, {len(suite.checks)} checks, {len(suite.gates)} gates)")
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    if args.results:
        from audit.results import json_schema
    else:
        from audit.suite import Suite

        json_schema = Suite.model_json_schema
    print(json.dumps(json_schema(), indent=2))
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from audit.registry import CHECKS, DATASETS, RECIPES

    for title, registry in (("checks", CHECKS), ("model recipes", RECIPES), ("datasets", DATASETS)):
        print(f"{title}: {', '.join(registry.names())}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="audit", description="Audit ML models from a declarative suite file: performance, fairness and more, gated for CI.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a suite and write a run folder (exit 0 pass, 1 gate failed, 2 bad input)")
    run.add_argument("suite", nargs="?", help="suite YAML file (optional with --resume)")
    run.add_argument("--output", "-o", default=None, help="folder for run folders (default: the suite's output.dir, 'reports')")
    run.add_argument("--seed", type=int, default=None, help="override the suite's seed")
    run.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    run.add_argument("--resume", metavar="RUN_DIR", default=None, help="finish an interrupted run: its hidden '.<run id>.partial' folder")
    run.add_argument("--fail-on", choices=("fail", "warn"), default="fail", help="exit 1 on failing gates (default) or on warnings too")
    run.set_defaults(func=_cmd_run)

    validate = sub.add_parser("validate", help="check a suite file without running it")
    validate.add_argument("suite")
    validate.set_defaults(func=_cmd_validate)

    schema = sub.add_parser("schema", help="print the JSON Schema of suite files (or of results.json)")
    schema.add_argument("--results", action="store_true", help="the schema of results.json instead")
    schema.set_defaults(func=_cmd_schema)

    lister = sub.add_parser("list", help="list registered checks, model recipes and datasets")
    lister.set_defaults(func=_cmd_list)

    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(sub)
    return parser


def _version() -> str:
    from audit import __version__

    return f"audit {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    from audit.errors import AuditError

    try:
        return func(args)
    except AuditError as exc:
        print(f"audit: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("audit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
