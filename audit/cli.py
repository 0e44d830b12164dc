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
from typing import Any

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

    if args.mlflow is not None and args.suite is None and args.mlflow.endswith((".yaml", ".yml")):
        args.suite, args.mlflow = args.mlflow, ""  # `audit run --mlflow suite.yaml`: the flag took the suite
    if args.ray is not None and args.suite is None and args.ray.endswith((".yaml", ".yml")):
        args.suite, args.ray = args.ray, ""  # `audit run --ray suite.yaml`: the flag took the suite
    if args.suite is None and args.resume is None:
        raise ConfigError("audit run needs a suite file (or --resume RUN_DIR)")
    if args.output is not None and args.resume is None:
        from audit.validation import output_dir_error

        problem = output_dir_error(args.output)
        if problem is not None:
            raise ConfigError(f"--output: {problem}")
    mlflow_spec = None
    if args.suite is not None:
        from audit.suite import load_suite

        mlflow_spec = load_suite(args.suite).output.mlflow
    execution = None if args.ray is None else {"backend": "ray", "address": args.ray or None}
    outcome = run_suite(args.suite, output=args.output, seed=args.seed, log=None if args.quiet else _log, resume=args.resume, execution=execution)
    print(summary(outcome.results, str(outcome.run_dir)))
    if args.mlflow is not None or mlflow_spec is not None:
        from audit.integrations.mlflow import log_run, resolve_tracking_uri

        run_id = log_run(outcome.run_dir, outcome.results, mlflow_spec, tracking_uri=args.mlflow or None)
        print(f"MLflow run {run_id} logged to {resolve_tracking_uri(mlflow_spec, args.mlflow or None)}")
    return exit_code(outcome.results.status, args.fail_on)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _cmd_validate(args: argparse.Namespace) -> int:
    from audit.errors import ConfigError
    from audit.validation import validate_suite

    suite, problems = validate_suite(args.suite, data_files=not args.no_data)
    if problems or suite is None:
        raise ConfigError("\n".join(map(str, problems)))  # one line per problem: <file>: <key path>: <message>
    for note in suite.deprecations:
        _log(f"audit: warning: {note}")
    files = len(suite.data.files()) + sum(m.predictions is not None for m in suite.models)
    checked = f"; {files} data file{'s' if files != 1 else ''} checked" if files and not args.no_data else ""
    print(f"{args.suite}: valid suite '{suite.name}' ({len(suite.models)} models, {len(suite.checks)} checks, {len(suite.gates)} gates{checked})")
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    if args.results:
        from audit.results import json_schema
    else:
        from audit.schema_json import suite_json_schema as json_schema
    print(json.dumps(json_schema(), indent=2))
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from audit.registry import CHECKS, DATASETS, RECIPES

    if not args.params:
        for title, registry in (("checks", CHECKS), ("model recipes", RECIPES), ("datasets", DATASETS)):
            print(f"{title}: {', '.join(registry.names())}")
        return 0
    print("checks (name [variant] on modalities: parameters)")
    shown: dict[tuple[str, str, Any], list[str]] = {}
    for name, modality, variant, cls in CHECKS.implementations():
        label = "" if variant == modality else f" [{variant}]"
        shown.setdefault((name, label, cls), []).append(modality)
    for (name, label, cls), modalities in shown.items():
        print(f"  {name}{label} on {', '.join(modalities)}: {_params_line(cls.Params)}")
    print("model recipes (name: parameters)")
    for name in RECIPES.names():
        print(f"  {name}: {_params_line(RECIPES.get(name).Params)}")
    print(f"datasets: {', '.join(DATASETS.names())}")
    return 0


def _params_line(params: Any) -> str:
    """'a=1, b=[0.1, 0.2], c (required)': a Params model's fields with their defaults."""
    out = []
    for name, field in params.model_fields.items():
        key = field.alias or name
        out.append(f"{key} (required)" if field.is_required() else f"{key}={field.get_default(call_default_factory=True)!r}")
    return ", ".join(out) or "none"


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
    run.add_argument(
        "--mlflow", nargs="?", const="", default=None, metavar="URI",
        help="also log the run to MLflow (the suite's output.mlflow does too); URI: tracking URI (default: output.mlflow.tracking_uri, MLFLOW_TRACKING_URI, ./mlruns)",
    )
    run.add_argument(
        "--ray", nargs="?", const="", default=None, metavar="ADDRESS",
        help="run the checks as Ray tasks (overrides the suite's execution); ADDRESS: a cluster (auto, ray://head:10001); none: start a local Ray",
    )
    run.set_defaults(func=_cmd_run)

    validate = sub.add_parser(
        "validate",
        help="check a suite file without running it: every problem at once, data file headers included",
    )
    validate.add_argument("suite")
    validate.add_argument("--no-data", action="store_true", help="do not open the data files (schema, names, parameters and gates only)")
    validate.set_defaults(func=_cmd_validate)

    schema = sub.add_parser("schema", help="print the JSON Schema of suite files (or of results.json)")
    schema.add_argument("--results", action="store_true", help="the schema of results.json instead")
    schema.set_defaults(func=_cmd_schema)

    lister = sub.add_parser("list", help="list registered checks, model recipes and datasets")
    lister.add_argument("--params", action="store_true", help="also each check's and recipe's parameters with their defaults")
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
